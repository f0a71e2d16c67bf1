"""The result file: one per job, outbox/<id>.yaml, written once and whole.

A task's output goes inline when it is short (`primes: [...]`, `numbers_kept:`,
`values:`); more goes to a file beside the result (outbox/<id>.primes, .kept or
.jsonl), one a line in the order the job asked for, and the result names that file. A failed
job's result says under `error:` what is wrong, where, and how to fix it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from . import events
from .job import JobState
from .jobdir import JOB_FILE, PROGRESS_FILE, JobDir
from .result_text import result_text
from .spec import Job
from .spool import OUTPUT_SUFFIXES, Spool


YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe, in C where built

FINISHED_EVENTS = {JobState.DONE: events.DONE, JobState.FAILED: events.FAILED,
                   JobState.CANCELLED: events.CANCELLED}


def iso(timestamp: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the millisecond."""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Outcome:
    """Everything a finished job reports, whatever its state."""

    state: JobState
    queued_at: float
    started_at: float
    finished_at: float
    running_seconds: Optional[float] = None  # of the time from start to finish (None: all)
    job: Optional[Job] = None
    tested: int = 0
    found: int = 0  # numbers that gave an output line (primes, kept numbers, values)
    error: Optional[dict] = None
    chunks: dict = field(default_factory=dict)
    settings: Optional[dict] = None  # as the job ran (JobRun.settings); None: the job's own


# the result's keys for a task's output, by kind: (its count, inline, the file beside it)
_OUTPUT_KEYS = {"primes": ("primes_found", "primes", "primes_file"),
                "filter": ("kept", "numbers_kept", "kept_file"),
                "map": (None, "values", "values_file")}


def output_kind(job: Optional[Job]) -> str:
    """How a job's output is reported: `primes` (the built-in task, with the keys it has
    always had), or its task's kind, `filter` or `map`."""
    if job is None or job.task == "primes":
        return "primes"
    return job.kind  # as checked when it started: the result needs no plugin loaded


def commit_result(spool: Spool, jobdir: JobDir, outcome: Outcome,
                  output: Union[Path, bytes, None], inline_max: int) -> None:
    """Write the job's result (and its output file when it has more than `inline_max`
    lines) to outbox/ and move the job to its final place. Nothing is visible in outbox/
    until it is whole. `output` is the job's output (one kept number, or one JSON
    [n, value], a line), in a file or as text."""
    kind = output_kind(outcome.job)
    count_key, inline_key, file_key = _OUTPUT_KEYS[kind]
    document = {"id": jobdir.id, "state": outcome.state.value}
    if outcome.job is not None:
        document["task"] = outcome.job.task
        if outcome.job.params:
            document["params"] = outcome.job.params
    document |= {"source": f"jobs/{jobdir.source_name()}", "numbers_tested": outcome.tested}
    if count_key:
        document[count_key] = outcome.found
    output_file = output_name = None
    if output is not None and outcome.state is JobState.DONE:
        if outcome.found <= inline_max:
            text = output if isinstance(output, bytes) else output.read_bytes()
            document[inline_key] = _inline(kind, text)
        else:
            output_name = f"{jobdir.id}{OUTPUT_SUFFIXES[kind]}"
            document[file_key] = output_name
            output_file = output
        if outcome.job.on_error == "record":
            document["errors"] = _errors_recorded(output)
    if outcome.job is not None:
        document["input"] = _describe_input(outcome.job)
        document["settings"] = outcome.settings or outcome.job.settings_summary()
    seconds = outcome.finished_at - outcome.started_at
    running = seconds if outcome.running_seconds is None else min(seconds, outcome.running_seconds)
    document["timings"] = {
        "queued": iso(outcome.queued_at),
        "started": iso(outcome.started_at),
        "finished": iso(outcome.finished_at),
        "seconds": round(seconds, 6),
        "running_seconds": round(running, 6),
        "waited_for_daemon_seconds": round(seconds - running, 6),
    }
    if outcome.chunks:
        document["chunks"] = outcome.chunks
    if outcome.error is not None:
        document["error"] = outcome.error
    progress = {"state": outcome.state.value, "task": document.get("task"), "output": kind,
                "tested": outcome.tested, "found": outcome.found,
                "total": outcome.job.total if outcome.job else 0,
                "priority": outcome.job.priority if outcome.job else 0,
                "started": outcome.started_at, "finished": outcome.finished_at}
    spool.write_atomically(jobdir.file(PROGRESS_FILE), json.dumps(progress).encode(), durable=False)
    text = result_text(document, wrapped=inline_key)
    spool.commit_result(jobdir, outcome.state, text.encode(), output_file, output_name)
    details = {"tested": outcome.tested, "found": outcome.found,
               "seconds": document["timings"]["seconds"]}
    if outcome.job is not None:
        details["task"] = outcome.job.task
    if outcome.chunks:
        details["chunks"] = outcome.chunks
    if outcome.error is not None:
        details["error"] = outcome.error["message"]
    spool.events.emit(FINISHED_EVENTS[outcome.state], jobdir.id, **details)


def _errors_recorded(output: Union[Path, bytes]) -> int:
    """How many values of a map job's output are an exception recorded (on_error: record),
    its lines read one at a time."""
    lines = output.splitlines() if isinstance(output, bytes) else open(output, "rb")
    try:
        return sum(1 for line in lines
                   if b'{"error": ' in line and isinstance(json.loads(line)[1], dict))
    finally:
        if not isinstance(lines, list):
            lines.close()


def _inline(kind: str, text: bytes) -> list:
    if kind != "map":
        return [int(line) for line in text.split()]
    return [[int(n), value] for n, value in map(json.loads, text.splitlines())]


def queued_at(jobdir: JobDir) -> float:
    """When the job was dropped: its file's modification time (kept by renames)."""
    try:
        return jobdir.file(JOB_FILE).stat().st_mtime
    except OSError:
        return 0.0


def _describe_input(job: Job) -> dict:
    if job.numbers is not None:
        return {"numbers": job.total}
    if job.range is not None:
        return {"range": {"start": job.range[0], "stop": job.range[1]}}
    return {"numbers_file": job.numbers_file_shown, "numbers": job.total}


class NotYAML(Exception):
    """What PyYAML said of a document it could not read."""


def load_yaml(source) -> Any:
    """The YAML document in `source` (bytes, text or a binary file), read safely; NotYAML
    if it is not YAML. (Import this module where YAML is read: `runner status` reads
    none, and starts without PyYAML.)"""
    try:
        return yaml.load(source, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        raise NotYAML(str(exc)) from exc
