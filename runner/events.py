"""Events: every state change and fault, named here, and the spool's events log.

Each event is one JSON line in `jobs/.state/events.jsonl`:

    {"time": "2026-11-25T05:51:13.123Z", "job": "big", "event": "worker_lost",
     "pid": 4242, "chunk": 3, "attempt": 1, "cause": "its worker (pid 77) died: ..."}

`time` is UTC, `job` is null for events of the daemon or its pools, `pid` is the
process that wrote the line. Several processes append (the daemon, and CLI
commands such as submit and cancel): each line is one `os.write` on an
`O_APPEND` descriptor, so lines never interleave. The log is bounded: past
`MAX_LOG_BYTES` it is renamed to `events.jsonl.1` (replacing the older one) and a
new one begun. Emitting never raises: the log is for people, a job's durability
never depends on it, and a full disk must not take the daemon down. An event is
written after the fact it records, so a crash in between loses that one line.

`Events.emit` is the one place events go through: it writes the log and calls
each subscriber (the daemon's metrics), so every emission point is written once.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

log = logging.getLogger("runner.events")

# -- every event's name ---------------------------------------------------------------

SUBMITTED = "submitted"                # `runner submit` queued the job
STARTED = "started"                    # a daemon validated the job and got it workers: it runs
RESUMED = "resumed"                    # the same, for a job left running (stopped or dead daemon)
SUSPENDED = "suspended"                # the daemon is stopping: job checkpointed, left to resume
CANCEL_REQUESTED = "cancel_requested"  # `runner cancel` asked the job's daemon to stop it
DONE = "done"                          # result committed: done
FAILED = "failed"                      # result committed: failed (details: error)
CANCELLED = "cancelled"                # result committed: cancelled
PRUNED = "pruned"                      # a finished job's folder and results removed (prune, retention)
DISK_ERROR = "disk_error"              # the spool's disk failed; the job waits in running/
CHUNK_DONE = "chunk_done"              # a chunk's output is in (not in the events log: QUIET)
CHUNK_RETRIED = "chunk_retried"        # a lost chunk was handed to a pool again, after its backoff
CHUNK_TIMED_OUT = "chunk_timed_out"    # a chunk ran past the job's timeout; its worker stopped
WORKER_LOST = "worker_lost"            # a worker died (killed, crashed)
WORKER_RETIRED = "worker_retired"      # a worker left after maxtasksperchild chunks (QUIET)
WORKER_STOPPED = "worker_stopped"      # a worker stopped: its chunk's job ended (QUIET)
POOL_STARTED = "pool_started"
POOL_RECYCLED = "pool_recycled"        # a pool that may be wedged was replaced by a new one
POOL_STOPPED = "pool_stopped"          # idle too long, or the daemon stopped
SCHEDULER_UNREACHABLE = "scheduler_unreachable"  # backend dask: cannot reach it; jobs wait
SCHEDULER_CONNECTED = "scheduler_connected"      # backend dask: reached (again); jobs go on
SCHEDULER_LOST = "scheduler_lost"      # backend dask: connection lost; its chunks run again later
CHUNK_RERUN = "chunk_rerun"            # backend dask: the cluster ran a chunk again (worker lost)
DAEMON_STARTED = "daemon_started"
DAEMON_STOPPED = "daemon_stopped"

# Too many for the events log (one per chunk or worker): seen by subscribers (the
# metrics) and, with `runner start -v`, the daemon's log only.
QUIET = frozenset({CHUNK_DONE, WORKER_RETIRED, WORKER_STOPPED})

EVENTS_FILE = "events.jsonl"
MAX_LOG_BYTES = 8 << 20  # then rotated: at most about twice this on disk
MAX_TEXT_CHARS = 2000    # a longer text in an event is shortened, keeping lines small
FOLLOW_POLL_SECONDS = 0.2

Listener = Callable[[dict], None]


def now_iso() -> str:
    """The time now, ISO 8601 in UTC to the millisecond, ending in Z."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class EventLog:
    """The append-only JSON lines file at `path`, rotated to `path.1` past `max_bytes`."""

    def __init__(self, path: Path, max_bytes: int = MAX_LOG_BYTES):
        self.path, self.max_bytes = Path(path), max_bytes
        self.older = self.path.with_name(self.path.name + ".1")
        self._fd: Optional[int] = None
        self._lock = threading.Lock()
        self._failing = False

    def append(self, record: dict) -> None:
        """Write `record` as one line, whole or not at all. Never raises: a failure is
        logged once (until a write succeeds again) and the record dropped."""
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            try:
                fd = self._open()
                if os.fstat(fd).st_size >= self.max_bytes:
                    fd = self._rotate(fd)
                if os.write(fd, line) < len(line):  # the disk filled up mid-line: end
                    os.write(fd, b"\n")                # the fragment, so the next line is whole
                    raise OSError(errno.ENOSPC, "no space left for a whole line")
            except OSError as error:
                if not self._failing:
                    log.warning("cannot write to the events log %s (%s); events are dropped "
                                "until it can", self.path, error)
                self._failing = True
                self._close()
            else:
                self._failing = False

    def _open(self) -> int:
        """Our descriptor for the file now at `path`: reopened if another process rotated
        it (or someone removed it) since we opened ours."""
        if self._fd is not None:
            try:
                current = os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                return self._fd
            self._close()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def _rotate(self, fd: int) -> int:
        # The lock on the full file makes one process rotate it; the others find, once
        # they hold the lock, that `path` names a new file, and only reopen.
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                os.rename(self.path, self.older)
        except FileNotFoundError:
            pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return self._open()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- reading --------------------------------------------------------------------

    def read(self, job: Optional[str] = None) -> Iterator[dict]:
        """Every event in the log (the older file first), or only those of `job`.
        Lines that are not whole JSON (a write cut short by a full disk) are skipped."""
        for path in (self.older, self.path):
            try:
                with open(path, "rb") as handle:
                    yield from _whole_lines(handle, job)
            except FileNotFoundError:
                continue

    def follow(self, job: Optional[str] = None,
               poll_seconds: float = FOLLOW_POLL_SECONDS) -> Iterator[dict]:
        """`read`, then every event appended after it, as it comes, until the caller
        stops iterating. A rotation is followed: the rest of the old file, then the new."""
        try:
            with open(self.older, "rb") as handle:
                yield from _whole_lines(handle, job)
        except FileNotFoundError:
            pass
        handle = None
        try:
            while True:
                if handle is None:
                    try:
                        handle = open(self.path, "rb")
                    except FileNotFoundError:  # no event yet
                        time.sleep(poll_seconds)
                        continue
                yield from _whole_lines(handle, job)
                if self._rotated(handle):
                    yield from _whole_lines(handle, job)  # written as it was renamed
                    handle.close()
                    handle = None
                    continue
                time.sleep(poll_seconds)
        finally:
            if handle is not None:
                handle.close()

    def _rotated(self, handle) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            return True


def _whole_lines(handle, job: Optional[str]) -> Iterator[dict]:
    """The events in `handle` from where it is to its last whole line; a line still
    being written is left for the next call."""
    while True:
        line = handle.readline()
        if not line.endswith(b"\n"):
            if line:
                handle.seek(-len(line), os.SEEK_CUR)
            return
        record = _parse(line, job)
        if record is not None:
            yield record


def _parse(line: bytes, job: Optional[str]) -> Optional[dict]:
    if job is not None and f'"job":{json.dumps(job)}'.encode() not in line:
        return None  # cheap: most lines are other jobs'
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or (job is not None and record.get("job") != job):
        return None
    return record


class Events:
    """Where events go: an events log, and the subscribers (the daemon's metrics)."""

    def __init__(self, events_log: EventLog):
        self.log = events_log
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(record)` for every event this process emits, quiet ones too."""
        self._listeners.append(listener)

    def emit(self, event: str, job: Optional[str] = None, **details) -> None:
        """Record that `event` happened (to `job`, if it is a job's). Never raises.
        Every event, quiet ones too, is also logged at debug level (`runner start -v`)."""
        verbose = log.isEnabledFor(logging.DEBUG)
        if event in QUIET and not self._listeners and not verbose:
            return
        record = {"time": now_iso(), "job": job, "event": event, "pid": os.getpid()}
        for key, value in details.items():
            if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
                value = value[:MAX_TEXT_CHARS] + "..."
            record[key] = value
        if verbose:
            log.debug("%s %s %s", job or "-", event, details)
        if event not in QUIET:
            self.log.append(record)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # a subscriber's bug must not stop the emitter
                log.exception("an events subscriber failed on %s", event)
