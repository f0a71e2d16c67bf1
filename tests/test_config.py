"""Unit tests of runner/config.py: defaults, the template, and refused settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.config import CONFIG_TEMPLATE, Config, load_config
from runner.spool import CONFIG_FILE_NAME
from runner.errors import ConfigError
from runner.spool import Spool


def write(root: Path, text: str | bytes) -> None:
    path = root / CONFIG_FILE_NAME
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def test_defaults_without_a_config_file(tmp_path):
    config = load_config(tmp_path)
    assert config == Config()
    assert config.max_processes is None
    assert config.max_running_jobs == 4
    assert config.chunks_ahead_per_process == 2
    assert config.max_chunk_attempts == 3
    assert config.inline_max == 100
    assert config.defaults.chunksize == 1000
    assert config.defaults.start_method == "forkserver"
    assert config.defaults.ordered is True
    assert config.defaults.timeout == 300
    assert config.defaults.processes is None
    assert config.limits.job_file_bytes == 1 << 20
    assert config.limits.numbers == 100_000_000
    assert config.limits.number_bits == 4096
    assert config.limits.range_length == 10**12
    assert config.limits.chunksize == 1 << 22
    assert config.limits.timeout == 3600
    assert config.limits.processes_per_job is None


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "~\n"])
def test_empty_config_is_all_defaults(tmp_path, text):
    write(tmp_path, text)
    assert load_config(tmp_path) == Config()


def test_created_spool_template_is_all_defaults(tmp_path):
    spool = Spool.create(tmp_path / "spool")
    assert (spool.root / CONFIG_FILE_NAME).read_text() == CONFIG_TEMPLATE
    assert load_config(spool.root) == Config()


def test_template_settings_uncommented_load_as_the_defaults(tmp_path):
    """Every commented setting of the template, uncommented, is valid and is the default
    (the template's example `max_processes: 2` aside: its default is the core count)."""
    lines = []
    for line in CONFIG_TEMPLATE.splitlines():
        match = re.fullmatch(r"# ((?:  )?[a-z_]+:(?: [^ ].*)?)", line)
        if match and not line.startswith("# runner:"):
            lines.append(match.group(1))
    assert len(lines) >= 20
    write(tmp_path, "\n".join(lines) + "\n")
    assert load_config(tmp_path) == Config(max_processes=2)


def test_settings_are_read(tmp_path):
    write(tmp_path, "max_processes: 3\ndefaults:\n  chunksize: 7\n  start_method: spawn\n"
                    "limits:\n  numbers: 10\n  processes_per_job: 2\n")
    config = load_config(tmp_path)
    assert config.max_processes == 3
    assert config.total_processes == 3
    assert config.processes_per_job == 2
    assert config.defaults.chunksize == 7
    assert config.defaults.start_method == "spawn"
    assert config.limits.numbers == 10
    assert config.limits.chunksize == 1 << 22  # the rest keep their defaults


def test_processes_per_job_never_exceeds_total(tmp_path):
    write(tmp_path, "max_processes: 2\nlimits: {processes_per_job: 8}\n")
    assert load_config(tmp_path).processes_per_job == 2
    assert Config(max_processes=5).processes_per_job == 5


@pytest.mark.parametrize("text, named", [
    ("max_processes: 0\n", "max_processes"),
    ("max_running_jobs: -1\n", "max_running_jobs"),
    ("rescan_seconds: 0\n", "rescan_seconds"),
    ("limits: {numbers: '5'}\n", "limits.numbers"),
    ("limits: {number_bits: 1}\n", "limits.number_bits"),
    ("defaults: {start_method: forked}\n", "defaults.start_method"),
    ("defaults: {chunksize: 1.5}\n", "defaults.chunksize"),
    ("defaults: {ordered: 'maybe'}\n", "defaults.ordered"),
    ("limits: 5\n", "limits"),
    ("metrics_port: 0\n", "metrics_port"),
    ("metrics_port: 65536\n", "metrics_port"),
])
def test_bad_setting_is_named(tmp_path, text, named):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert re.search(rf"(^|[ ;]){re.escape(named)}:", message), message
    assert CONFIG_FILE_NAME in message


@pytest.mark.parametrize("text, named", [
    ("max_proceses: 3\n", "max_proceses"),
    ("defaults: {procs: 3}\n", "defaults.procs"),
    ("limits: {jobs: 3}\n", "limits.jobs"),
])
def test_unknown_setting_is_refused(tmp_path, text, named):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert named in str(info.value)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "5\n", "just a string\n"])
def test_config_must_be_a_mapping(tmp_path, text):
    write(tmp_path, text)
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path)


@pytest.mark.parametrize("text, said", [
    ("a: [\n", "line 2, column 1: is not valid YAML: expected the node content, but found "
     "'<stream end>'. Fix: check the indentation and punctuation at that spot"),
    (b"max_processes: \xff\n", ": is not UTF-8 text (byte 15). Fix: save it as UTF-8"),
    ("a: b: c\n", "line 1, column 5: is not valid YAML: mapping values are not allowed here. "
     "Fix: check the indentation and punctuation at that spot"),
])
def test_unreadable_config_says_where_and_the_fix(tmp_path, text, said):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path / CONFIG_FILE_NAME}{', ' if said[0] != ':' else ''}{said}"


@pytest.mark.parametrize("text, said", [
    ("max_processes: 1e6\n", "line 1, column 16, setting max_processes: max_processes is a "
     "string ('1e6'), but must be an integer written in digits. Fix: write 1000000"),
    ("limits:\n  timeout: '60'\n", "line 2, column 12, setting limits.timeout: limits.timeout "
     "is a string ('60'), but must be a number. Fix: write 60 without quotes"),
    ("# mine\nlimits: {numbrs: 5}\n", "line 2, column 10, setting limits.numbrs: 'numbrs' is "
     "not a setting; did you mean 'numbers'? Fix: use one of: job_file_bytes, numbers, "
     "number_bits, range_length, processes_per_job, chunksize, timeout, queued_jobs, retries"),
])
def test_a_bad_setting_says_its_line_and_a_fix_that_works(tmp_path, text, said):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path / CONFIG_FILE_NAME}, {said}"


def test_config_is_frozen():
    config = Config()
    with pytest.raises(Exception):
        config.max_processes = 3  # type: ignore[misc]


def test_retry_backoff_doubles_up_to_its_cap(tmp_path):
    write(tmp_path, "retry_backoff_seconds: 0.5\nretry_backoff_max_seconds: 3\n")
    config = load_config(tmp_path)
    assert [config.retry_delay_seconds(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]
    assert Config().default_retries == 2
    assert Config(max_chunk_attempts=1).default_retries == 0


def test_the_template_is_read_without_pyyaml(tmp_path, monkeypatch):
    """`runner submit` reads the config.yaml `runner init` writes without loading PyYAML."""
    import runner.config_file as config_file

    write(tmp_path, CONFIG_TEMPLATE)
    monkeypatch.setattr(config_file, "_read_yaml", None)  # called: a TypeError
    assert config_file.read_config_file(tmp_path).settings == {}


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(
    st.sampled_from(["", " ", "  ", "\t", "\ufeff"]), st.sampled_from(["#", "# ", ""]),
    st.text(st.sampled_from([" ", "#", "a", ":", "-", "é", "\U0001f600", "\t", "\r", "\x85",
                             "\u2028", "\x07"]), max_size=3)), max_size=5))
def test_what_is_told_as_comments_alone_is_so_to_yaml(lines):
    """config_file._only_comments, which spares PyYAML, says so only of texts that YAML
    reads as nothing."""
    from runner.config_file import _only_comments

    text = "\n".join("".join(line) for line in lines)
    if _only_comments(text):
        assert yaml.safe_load(text) is None, repr(text)
