"""The library behind the CLI: submit, status, inspect, cancel and logs, for scripts too.

Every function takes a `Spool` and reads or changes only what the spool shows,
so it works whether or not a daemon is running (and from any process).
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

from . import events
from .errors import SpoolError
from .job import JOB_ID_PATTERN, JOB_ID_RULE, JobState, default_job_id, peek_job_id
from .results import Outcome, commit_result, queued_at
from .spool import (JOB_FILE, PROGRESS_FILE, SPEC_FILE, YAML_LOADER, JobDir, JobInfo, Spool,
                    submitted_input_name)

CANCEL_WAIT_SECONDS = 5.0


def submit_numbers(spool: Spool, source, name: str, job_id: Optional[str] = None,
                   pool: Optional[dict] = None, timeout: Optional[float] = None) -> str:
    """Queue a job testing the numbers in the binary stream `source` (one a line),
    copied into the spool in blocks. Returns the job's id."""
    job_id = _free_id(spool, job_id, default_job_id(Path(name)))
    spool.ensure()
    temp = spool.temp_path("numbers")
    with open(temp, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    stored = spool.inputs / submitted_input_name(name)
    os.rename(temp, stored)
    spec: dict[str, Any] = {"id": job_id, "numbers_file": stored.relative_to(spool.root).as_posix()}
    return _enqueue(spool, spec, pool, timeout, name)


def submit_job_file(spool: Spool, path: Path, job_id: Optional[str] = None,
                    pool: Optional[dict] = None, timeout: Optional[float] = None) -> str:
    """Queue a copy of the YAML job file at `path`, with the given fields overridden.
    The daemon validates it; a bad file comes back as a failed result."""
    raw = path.read_bytes()
    wanted = job_id or peek_job_id(path)
    free = _free_id(spool, job_id, wanted)
    if free == wanted and not pool and timeout is None and (job_id is None or peek_job_id(path) == job_id):
        return _queue(spool, free, raw, path.name)  # byte for byte: errors are reported by line
    spec = yaml.load(raw, Loader=YAML_LOADER)
    if not isinstance(spec, dict):
        raise SpoolError(f"{path}: a job file must be a YAML mapping")
    spec["id"] = free
    return _enqueue(spool, spec, pool, timeout, path.name)


def _enqueue(spool: Spool, spec: dict, pool: Optional[dict], timeout: Optional[float],
             source: str) -> str:
    if pool:
        spec["pool"] = {**(spec.get("pool") or {}), **pool}
    if timeout is not None:
        spec["timeout"] = timeout
    return _queue(spool, spec["id"], yaml.safe_dump(spec, sort_keys=False).encode(), source)


def _queue(spool: Spool, job_id: str, data: bytes, source: str) -> str:
    queued = spool.enqueue(f"{job_id}.yaml", data)
    spool.events.emit(events.SUBMITTED, job_id, source=source, file=f"jobs/{queued.name}")
    return job_id


def _free_id(spool: Spool, asked: Optional[str], default: str) -> str:
    """`asked` if free (an error if taken: scripts rely on ids), else `default` or
    `default-N`, the first that no job of the spool has."""
    if asked is not None:
        if not JOB_ID_PATTERN.fullmatch(asked):
            raise SpoolError(f"id {asked!r} {JOB_ID_RULE}")
        if spool.find(asked) is not None or spool.result_path(asked).exists():
            raise SpoolError(f"a job with id {asked!r} exists already; pick another --id")
        return asked
    for n in range(1, 1_000_000):
        candidate = default if n == 1 else f"{default[:57]}-{n}"
        if spool.find(candidate) is None and not spool.result_path(candidate).exists():
            return candidate
    raise SpoolError(f"no free id like {default!r}")


def status(spool: Spool) -> list[dict]:
    """Every job with its state and progress, queued first, then running, then finished."""
    return [_summary(info) for info in spool.list_jobs()]


def _summary(info: JobInfo) -> dict:
    progress = info.progress
    started = progress.get("started")
    end = progress.get("finished") or (time.time() if started else None)
    summary = {
        "id": info.id,
        "state": info.state.value,
        "tested": progress.get("tested", 0),
        "total": progress.get("total"),
        "primes": progress.get("primes", 0),
        "elapsed": round(end - started, 3) if started else None,
    }
    if progress.get("waiting"):  # why a running job makes no progress (its backend is away)
        summary["waiting"] = progress["waiting"]
    return summary


def inspect(spool: Spool, job_id: str) -> dict:
    """Everything about one job: its spec, state, progress and, once finished, its result."""
    info = _find(spool, job_id)
    out = _summary(info)
    if info.state is JobState.QUEUED:
        out["file"] = str(info.path.relative_to(spool.root))
        out["spec"] = _read_yaml(info.path)
        return out
    jobdir = JobDir(info.path)
    out["source"] = f"jobs/{jobdir.source_name()}"
    out["spec"] = jobdir.read_json(SPEC_FILE) or _read_yaml(jobdir.file(JOB_FILE))
    if info.state.finished:
        out["result_file"] = str(spool.result_path(job_id).relative_to(spool.root))
        out["result"] = _read_yaml(spool.result_path(job_id))
    return out


def cancel(spool: Spool, job_id: str, wait: float = CANCEL_WAIT_SECONDS) -> JobState:
    """Cancel a queued or running job; returns its final state (`cancelled`, or what it
    reached first). A running job's daemon stops it; if none holds it, we finish it here."""
    info = _find(spool, job_id)
    deadline = time.monotonic() + wait
    while info.state is JobState.QUEUED:
        jobdir = spool.claim(info.path) if info.path.parent == spool.jobs else None
        if jobdir is not None:
            spool.place_running(jobdir, job_id)
            _commit_cancelled(spool, jobdir)
            return JobState.CANCELLED
        if time.monotonic() > deadline:
            raise SpoolError(f"job {job_id!r} stays claimed but not started; try again")
        time.sleep(0.01)  # a daemon is claiming it: cancel it once it runs
        info = _find(spool, job_id)
    if info.state.finished:
        raise SpoolError(f"job {job_id!r} is already {info.state.value}; nothing to cancel")
    jobdir = JobDir(info.path)
    if spool.try_own(jobdir):  # no daemon holds it
        _commit_cancelled(spool, jobdir)
        return JobState.CANCELLED
    try:
        spool.request_cancel(job_id)
        spool.events.emit(events.CANCEL_REQUESTED, job_id)
    except FileNotFoundError:  # it finished meanwhile
        pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        state = spool.read_result_state(job_id)
        if state is not None:
            return state
        time.sleep(0.02)
    raise SpoolError(f"job {job_id!r}: cancel requested, but its daemon has not stopped it "
                     f"within {wait:g} s; it will when it can")


def logs(spool: Spool, job_id: Optional[str] = None, follow: bool = False) -> Iterator[dict]:
    """The spool's events (or only `job_id`'s), oldest first, as dicts with `time`, `job`,
    `event` and details. With `follow`, then each new event as it is written, until the
    caller stops iterating. Without it, an id that has no event and no job is an error."""
    if not spool.state.is_dir():
        raise SpoolError(f"{spool.root} has no spool (no jobs/.state/); make one with "
                         "`runner init DIR`, or give its folder with --root")
    if follow:
        yield from spool.events.log.follow(job_id)
        return
    found = False
    for record in spool.events.log.read(job_id):
        found = True
        yield record
    if job_id is not None and not found:
        _find(spool, job_id)  # says there is no such job, if there is none


def _commit_cancelled(spool: Spool, jobdir: JobDir) -> None:
    progress = jobdir.read_json(PROGRESS_FILE) or {}
    now = time.time()
    outcome = Outcome(JobState.CANCELLED, queued_at(jobdir), progress.get("started", now), now,
                      tested=progress.get("tested", 0), primes=progress.get("primes", 0))
    commit_result(spool, jobdir, outcome, None, 0)


def _find(spool: Spool, job_id: str) -> JobInfo:
    info = spool.find(job_id)
    if info is None:
        raise SpoolError(f"no job with id {job_id!r} in {spool.root}; `runner status` lists them")
    return info


def _read_yaml(path: Path) -> Any:
    try:  # never follow a link nor wait on a FIFO: anyone can drop one into jobs/
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return "(unreadable: not a regular file)"
            return yaml.load(handle, Loader=YAML_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        return f"(unreadable: {exc})"
