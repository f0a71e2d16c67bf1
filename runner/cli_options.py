"""The command line's options: those many commands share (--root, --json), the choices
some take, and what needs more than typer reads: `runner submit`'s options as the job's
settings, `--param NAME=VALUE`, durations (`--older-than 7d`), and a setting told back
as the option the person typed (`--processes 64`)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .job import START_METHODS

RootOption = Annotated[Path, typer.Option(
    "--root", envvar="RUNNER_ROOT", help="The spool's folder (default: $RUNNER_ROOT, else here).",
    file_okay=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]


class OnError(str, Enum):
    fail = "fail"
    record = "record"


StartMethod = Enum("StartMethod", {method: method for method in START_METHODS}, type=str)

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_OPTION_OF_FIELD = {"pool.processes": "--processes", "pool.chunksize": "--chunksize",
                    "pool.maxtasksperchild": "--maxtasksperchild",
                    "pool.start_method": "--start-method", "pool.ordered": "--unordered",
                    "timeout": "--timeout", "priority": "--priority", "retries": "--retries",
                    "task": "--task", "on_error": "--on-error"}


def job_settings(processes: Optional[int] = None, chunksize: Optional[int] = None,
                 maxtasksperchild: Optional[int] = None, start_method: Optional[str] = None,
                 unordered: bool = False, params: Optional[dict] = None,
                 **fields: Any) -> tuple[dict, dict]:
    """The job's pool settings and its other fields (timeout, priority, retries, task,
    on_error, params), as a job file would write them, of the options given (None: not
    given, so the file's or config.yaml's value holds)."""
    pool = {key: value for key, value in (
        ("processes", processes), ("chunksize", chunksize), ("maxtasksperchild", maxtasksperchild),
        ("start_method", start_method), ("ordered", False if unordered else None))
        if value is not None}
    given = {key: value for key, value in {**fields, "params": params or None}.items()
             if value is not None}
    return pool, given


def parse_params(given: list[str]) -> dict:
    """--param NAME=VALUE options as a mapping, each VALUE read as a YAML scalar;
    ValueError, saying how to write it, for one that is not NAME=VALUE."""
    if not given:  # PyYAML (6 ms to import) only to read a VALUE
        return {}
    import yaml

    params = {}
    for text in given:
        name, equals, value = text.partition("=")
        if not equals or not name:
            raise ValueError(f"--param {text}: write NAME=VALUE, e.g. --param cap=1000")
        params[name.strip()] = yaml.safe_load(value) if value.strip() else ""
    return params


def parse_seconds(text: str) -> float:
    """A duration (`30m`, `12h`, `7d`, `2w`) in seconds."""
    number, unit = text[:-1], text[-1:]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _DURATION_UNITS or value < 0:
        raise typer.BadParameter(f"{text!r} is not a duration: write a number and a unit, "
                                 "s, m, h, d or w (e.g. 7d, 12h, 30m)")
    return value * _DURATION_UNITS[unit]


def as_typed(field: str, pool: dict, fields: dict) -> str:
    """The option that set the job's `field` (from `job_settings`' `pool` and `fields`),
    as typed: `--processes 64`, `--unordered`, `--param cap=10`."""
    if field.startswith("params."):
        name = field.removeprefix("params.")
        return f"--param {name}={fields['params'].get(name, '')}"
    flag = _OPTION_OF_FIELD[field]
    if field == "pool.ordered":
        return flag
    value = pool[field.removeprefix("pool.")] if field.startswith("pool.") else fields[field]
    typed = _typed_value(flag)
    return f"{flag} {typed}" if typed is not None else f"{flag} {value:g}" if isinstance(
        value, float) else f"{flag} {value}"


def _typed_value(flag: str) -> Optional[str]:
    """The value given to `flag` on this command line as it was typed (`1e9`, which
    click reads as 1000000000.0), or None if it was not (the command was run otherwise)."""
    args = sys.argv[1:]
    for index in range(len(args) - 1, -1, -1):
        if args[index] == flag and index + 1 < len(args):
            return args[index + 1]
        if args[index].startswith(f"{flag}="):
            return args[index].split("=", 1)[1]
    return None
