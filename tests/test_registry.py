"""Unit tests of runner/registry.py's reading of a package's name and version from its
metadata's header, as importlib.metadata reads them from the whole file."""

from __future__ import annotations

from importlib.metadata import distributions
from types import SimpleNamespace

from runner.registry import _release


def test_every_installed_package_is_named_as_importlib_metadata_names_it():
    for dist in distributions():
        assert _release(SimpleNamespace(dist=dist)) == (dist.name, dist.version)


def test_a_header_without_name_or_version_is_left_to_importlib_metadata():
    class Unusual:
        name, version = "pkg", "1.0"

        @staticmethod
        def read_text(filename):
            return "Metadata-Version: 2.1\nSummary: no name here\n\nName: not a header\n"

    assert _release(SimpleNamespace(dist=Unusual())) == ("pkg", "1.0")
    assert _release(SimpleNamespace(dist=None)) == ("?", "?")
