"""The library behind the CLI's views and controls: status, inspect, wait, results,
cancel and logs, for scripts too (runner/api.py is the surface to import; submit and
retry are submission.py's, prune retention.py's).

Every function takes a `Spool` and reads or changes only what the spool shows,
so it works whether or not a daemon is running (and from any process).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from . import events, listing
from .daemons import serving
from .errors import JobStateError, SpoolError
from .job import JobState
from .jobdir import JOB_FILE, PROGRESS_FILE, SPEC_FILE, JobDir
from .listing import JobInfo
from .safe_open import NotARegularFile, open_regular
from .spool import Spool

CANCEL_WAIT_SECONDS = 5.0
WAIT_POLL_SECONDS = 0.1
MISSING_POLLS = 10  # polls in a row that find a waited-for job nowhere before it is an error
MOVES_FOLLOWED = 3  # queued, running, finished: a job moves at most twice while it is read


SUSPENDED = "suspended"  # shown for a running job whose daemon is gone


def status(spool: Spool) -> list[dict]:
    """Every job with its state and progress, queued first, then running, then finished.
    A running job whose daemon died is `suspended`: no rate or ETA, and its elapsed time
    stopped when its daemon last published its progress; a daemon resumes it."""
    return [_summary(spool, info) for info in listing.list_jobs(spool)]


def daemons(spool: Spool) -> list[dict]:
    """The daemons serving the spool now (host, pid, since, backend, processes, version),
    oldest first; empty when none does, and then no job runs."""
    return serving(spool)


def no_daemon_hint(spool: Spool) -> str:
    """What to say when no daemon serves the spool."""
    return f"no daemon serves {spool.root}; start one with `runner start --root {spool.root}`"


def _summary(spool: Spool, info: JobInfo) -> dict:
    progress = info.progress
    started = progress.get("started")
    running = info.state is JobState.RUNNING and JobDir(info.path).is_served()
    suspended = info.state is JobState.RUNNING and not running
    end = progress.get("finished") or (progress.get("updated") if suspended else None) or (
        time.time() if started else None)
    priority = progress.get("priority")
    if priority is None and running:  # started less than a progress period ago
        priority = (JobDir(info.path).read_json(SPEC_FILE) or {}).get("priority", 0)
    summary = {
        "id": info.id,
        "state": SUSPENDED if suspended else info.state.value,
        "priority": priority or 0,
        "task": progress.get("task"),  # None until a daemon starts it
        "output": progress.get("output"),  # how it reports its output: primes, filter, map
        "tested": progress.get("tested", 0),
        "total": progress.get("total"),
        "found": _found(progress),
        "rate": progress.get("rate") if running else None,
        "eta": progress.get("eta") if running else None,
        "elapsed": round(end - started, 3) if started else None,
    }
    if summary["output"] in (None, "primes"):  # the key scripts read before there were tasks
        summary["primes"] = summary["found"]
    if progress.get("waiting"):  # why a running job makes no progress (its backend is away)
        summary["waiting"] = progress["waiting"]
    return summary


def _found(progress: dict) -> int:
    """Numbers that gave an output line, from progress as this or an older daemon wrote it."""
    return progress.get("found", progress.get("primes", 0))


def inspect(spool: Spool, job_id: str) -> dict:
    """Everything about one job: its spec, state, progress and, once finished, its result,
    as read from one place: a job that moved on while it was read (claimed, or archived
    just after its result was written) is read again where it went."""
    for _ in range(MOVES_FOLLOWED):
        info = listing.get(spool, job_id)
        out = _inspect_at(spool, info)
        if info.path.exists():
            break
    return out


def _inspect_at(spool: Spool, info: JobInfo) -> dict:
    job_id = info.id
    out = _summary(spool, info)
    out["daemons"] = daemons(spool)
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


def wait(spool: Spool, job_id: str, timeout: Optional[float] = None,
         on_progress: Optional[Callable[[dict], None]] = None,
         on_daemons: Optional[Callable[[list[dict]], None]] = None) -> dict:
    """Wait until the job is finished and return its result (outbox/<id>.yaml, as a
    dict: `state` is done, failed or cancelled). `on_progress` is called with the job's
    `status` row whenever its progress changes; `on_daemons` with the spool's daemons
    (`daemons`) at once, then whenever whether any serves the spool changes. Raises
    TimeoutError after `timeout` seconds (None: no limit), SpoolError if the job is
    nowhere to be found."""
    deadline = None if timeout is None else time.monotonic() + timeout
    shown, missing, served = None, 0, None
    while True:
        began = time.monotonic()
        if on_daemons is not None:
            serving = daemons(spool)
            if bool(serving) != served:
                served = bool(serving)
                on_daemons(serving)
        result = None
        if spool.read_result_state(job_id) is not None:
            result = _read_yaml(spool.result_path(job_id))
        info = listing.find(spool, job_id)
        missing = 0 if info is not None or result is not None else missing + 1
        if missing >= MISSING_POLLS:
            listing.get(spool, job_id)  # says there is no such job
        if info is not None and on_progress is not None:
            row = _summary(spool, info)
            seen = (row["state"], row["tested"], row["total"], row["found"])
            if seen != shown:
                shown = seen
                on_progress(row)
        if isinstance(result, dict):
            return result
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id!r} is not finished after {timeout:g} s")
        # a queued job is looked for among every queued file: in a long queue, look less often
        time.sleep(max(WAIT_POLL_SECONDS, 4 * (time.monotonic() - began)))


# (inline key, file key) of a result's output, by its task's kind (results.py)
_OUTPUTS = (("primes", "primes_file"), ("numbers_kept", "kept_file"), ("values", "values_file"))


def results(spool: Spool, job_id: str) -> Iterator[Any]:
    """What a done job gave, in its result's order, streamed from its output file when it
    has one (never all in memory): the primes of a `primes` job, the kept numbers of a
    filter task, [n, value] pairs of a map task. JobStateError if it is not finished, or
    did not end done (the message says why)."""
    result = _read_yaml(spool.result_path(job_id))
    if not isinstance(result, dict):
        info = listing.get(spool, job_id)
        raise JobStateError(f"job {job_id!r} is {info.state.value}, not finished: "
                            "wait for it first (`runner submit --wait`, or api.wait)")
    if result.get("state") != JobState.DONE.value:
        why = (result.get("error") or {}).get("message", "")
        raise JobStateError(f"job {job_id!r} is {result.get('state')}, so it has no results"
                            f"{': ' + why if why else ''}; `runner retry {job_id}` runs it again")
    for inline, in_file in _OUTPUTS:
        if inline in result:
            yield from result[inline]
            return
        if in_file in result:
            with open(spool.outbox / result[in_file], "rb") as lines:
                for line in lines:
                    if in_file == "values_file":
                        n, value = json.loads(line)
                        yield [int(n), value]
                    else:
                        yield int(line)
            return


def cancel(spool: Spool, job_id: str, wait: float = CANCEL_WAIT_SECONDS) -> JobState:
    """Cancel a queued or running job; returns its final state (`cancelled`, or what it
    reached first). A running job's daemon stops it; if none holds it, we finish it here."""
    info = listing.get(spool, job_id)
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
        info = listing.get(spool, job_id)
    if info.state.finished:
        raise JobStateError(f"job {job_id!r} is already {info.state.value}; nothing to cancel")
    jobdir = JobDir(info.path)
    if jobdir.try_own():  # no daemon holds it
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
    if follow:
        yield from spool.events.log.follow(job_id)
        return
    found = False
    for record in spool.events.log.read(job_id):
        found = True
        yield record
    if job_id is not None and not found:
        listing.get(spool, job_id)  # says there is no such job, if there is none


def _commit_cancelled(spool: Spool, jobdir: JobDir) -> None:
    from .results import Outcome, commit_result, queued_at

    progress = jobdir.read_json(PROGRESS_FILE) or {}
    now = time.time()
    outcome = Outcome(JobState.CANCELLED, queued_at(jobdir), progress.get("started", now), now,
                      running_seconds=progress.get("running_seconds"),
                      tested=progress.get("tested", 0), found=_found(progress))
    commit_result(spool, jobdir, outcome, None, 0)


def _read_yaml(path: Path) -> Any:
    from .results import NotYAML, load_yaml  # PyYAML: only where YAML is read

    try:
        with open(open_regular(path)[0], "rb") as handle:
            return load_yaml(handle)
    except NotARegularFile:
        return "(unreadable: not a regular file)"
    except (OSError, NotYAML) as exc:
        return f"(unreadable: {exc})"
