"""config.yaml as written: its settings read as YAML, not yet checked (config.py checks
them against its models), and the defaults that a job made from a numbers file is checked
with when config.yaml sets none (the limits, the cores, the time a plugin's trial load may
take).
Light on purpose (no pydantic, and no PyYAML for a config.yaml of comments alone, as
`runner init` writes it), so that `runner submit` tells a config.yaml that sets nothing a
job is checked against in about a millisecond."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError
from .spool import CONFIG_FILE_NAME

NUMBERS_DEFAULT = 100_000_000  # limits.numbers: numbers in one job
NUMBER_BITS_DEFAULT = 4096  # limits.number_bits: size of each number
CHUNKSIZE_MAX_DEFAULT = 1 << 22  # limits.chunksize: numbers in one chunk (4 sieve segments)
TIMEOUT_MAX_DEFAULT = 3600  # limits.timeout: seconds one chunk may be given
RETRIES_MAX_DEFAULT = 100  # limits.retries: retries of one chunk
TASK_LOAD_SECONDS = 20.0  # task_load_seconds: a plugin's trial import may take this long
# Settings of how the daemon works that no job's check reads (config.py checks their values
# when the daemon starts): a job is checked against limits, defaults, max_processes,
# max_chunk_attempts, the backend and task_load_seconds, never against these
DAEMON_ONLY_SETTINGS = frozenset({
    "max_running_jobs", "chunks_ahead_per_process", "retry_backoff_seconds",
    "retry_backoff_max_seconds", "retention_days", "rescan_seconds", "pool_idle_seconds",
    "fsync_seconds", "inline_max", "inline_primes_max", "metrics_port"})


def cpu_count() -> int:
    """The cores this process may run on: max_processes when config.yaml sets none."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ConfigFile(NamedTuple):
    """A spool's config.yaml, read: its text and the settings it writes (none: {})."""

    path: Path
    text: str
    settings: dict

    @property
    def binds_jobs(self) -> bool:
        """Whether it sets anything that a job's check reads (any setting but
        DAEMON_ONLY_SETTINGS): if not, a job passes that check as under no config.yaml."""
        return bool(self.settings.keys() - DAEMON_ONLY_SETTINGS)


def read_config_file(root: Path) -> ConfigFile:
    """Read `root/config.yaml` (absent or empty: no settings); raise ConfigError if it
    cannot be read, is not YAML or not a mapping, naming the file and the line, with
    the fix."""
    path = root / CONFIG_FILE_NAME
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text (byte {exc.start}). Fix: save it as "
                          "UTF-8") from exc
    data = {} if _only_comments(text) else _read_yaml(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of settings, not {type(data).__name__}. "
                          "Fix: write one `setting: value` a line, as `runner init` does")
    return ConfigFile(path, text, data)


def _only_comments(text: str) -> bool:
    """Whether `text` is only blank lines and `#` comments, which YAML reads as nothing:
    told without PyYAML (6 ms to import), for the config.yaml `runner init` writes. A
    sure subset of what YAML reads so: a tab, a carriage return or any character Python
    would not print (those YAML refuses are among them) leaves it to PyYAML."""
    for line in text.split("\n"):
        content = line.lstrip(" ")
        if content and not (content.startswith("#") and content.isprintable()):
            return False
    return True


def _read_yaml(path: Path, text: str):
    """The YAML document `text` (of the file at `path`), else ConfigError naming the line."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: is not valid YAML: {exc.problem or exc.context}. "
                          "Fix: check the indentation and punctuation at that spot") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: is not valid YAML: {exc}") from exc
