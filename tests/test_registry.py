"""Unit tests of runner/registry.py: its reading of a package's name and version from its
metadata's header, as importlib.metadata reads them from the whole file; a plugin's trial
load in a process of its own."""

from __future__ import annotations

from importlib.metadata import EntryPoint, distributions
from types import SimpleNamespace

import pytest

from runner.registry import GROUP, _release, _Trial


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


@pytest.mark.timeout(60)
@pytest.mark.parametrize("value, loads", [
    ("probed:TASKS.collatz", True),  # an attribute path, as EntryPoint.load follows it
    ("probed", True),  # a module alone
    ("probed:TASKS.missing", False),  # an import that raises: its Traceback, exit code 1
])
def test_a_trial_load_imports_what_the_entry_point_names_without_importlib_metadata(
        tmp_path, monkeypatch, value, loads):
    """The trial (a fresh Python, on the path of the door's `runner submit` before its job
    is queued) imports the entry point's module and follows its attributes, without
    importlib.metadata (20 to 40 ms to import)."""
    (tmp_path / "probed.py").write_text(
        "import sys\n"
        "with open(__file__ + '.seen', 'w') as note:\n"
        "    note.write(str('importlib.metadata' in sys.modules))\n"
        "class TASKS:\n    collatz = abs\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    trial = _Trial.start(EntryPoint(name="probe", value=value, group=GROUP))
    _, stderr = trial.process.communicate(timeout=30)
    assert (tmp_path / "probed.py.seen").read_text() == "False"
    assert trial.process.returncode == (0 if loads else 1), stderr
    assert loads or b"Traceback" in stderr
