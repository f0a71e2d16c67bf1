"""The job: its states, its id, and the resolved form the daemon runs.

The job file's format and its validation live in jobfile.py; this module is
kept free of heavy imports so that the CLI starts fast.
"""

from __future__ import annotations

import copy
import enum
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from .safe_open import open_regular

JOB_SUFFIXES = (".yaml", ".yml")
JOB_ID_MAX = 64
JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,%d}" % (JOB_ID_MAX - 1))  # no . or ..
NUMBERED_MAX = 999_999  # a taken name gets -2, -3, ... at most this: a free one comes first
JOB_ID_RULE = (f"may only use letters, digits, '.', '_' and '-' (at most {JOB_ID_MAX}), and not "
               "start with '.'")
_PEEK_ID = re.compile(rb"^id:[ \t]*['\"]?(%s)['\"]?[ \t]*(?:#.*)?$"
                      % JOB_ID_PATTERN.pattern.encode(), re.M)
_PEEK_PRIORITY = re.compile(rb"^priority:[ \t]*(-?[0-9]{1,7})[ \t]*(?:#.*)?\r?$", re.M)
PEEK_BYTES = 4096  # how far into a queued file its id and priority are looked for
PRIORITY_MAX = 1_000_000  # priorities run from -PRIORITY_MAX to PRIORITY_MAX


class JobState(str, enum.Enum):
    """Where a job is in its life; each state is a place in the spool (see spool.py)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)  # in the order shown


# -- the resolved job --------------------------------------------------------------


START_METHODS = ("fork", "spawn", "forkserver")  # how a pool's workers may start


@dataclass(frozen=True)
class PoolSettings:
    """The pool a job runs on; jobs with equal settings share one persistent pool."""

    processes: int
    maxtasksperchild: Optional[int]
    start_method: str


@dataclass(frozen=True)
class Job:
    """A validated job with every default filled in: what the daemon runs.

    Exactly one of `numbers`, `numbers_file` (a path relative to the spool root)
    and `range` (start, stop) is set. `total` is how many numbers it tests.
    """

    id: str
    pool: PoolSettings
    chunksize: int
    ordered: bool
    timeout: float
    total: int
    numbers: Optional[tuple[int, ...]] = None
    numbers_file: Optional[str] = None
    range: Optional[tuple[int, int]] = None
    submitted_as: Optional[str] = None  # the name `runner submit` got for the numbers file
    priority: int = 0  # higher runs first; equal priorities in the order they were queued
    retries: int = 2  # times a chunk whose worker died is tried again before the job fails
    task: str = "primes"  # the registered task it runs (registry.py)
    params: dict = field(default_factory=dict)  # its params, checked against the task's model
    on_error: str = "fail"  # an exception on one number: "fail" the job, or "record" it as the value
    kind: str = "filter"  # its task's kind when it was checked: "filter" or "map"
    task_version: str = ""  # its task's "package version" when it was checked
    # (digits, cap) pairs: a chunk holds at most `cap` numbers of that many digits, for a
    # task whose numbers cost more the longer they are (plan.py); other numbers: chunksize
    chunk_caps: Optional[tuple[tuple[int, int], ...]] = None
    # its chunksize was picked by the runner for a task of unknown cost: its last chunks
    # shrink, so that its workers end together (plan.chunk_sizes)
    tapered: bool = False

    @property
    def numbers_file_shown(self) -> Optional[str]:
        """How messages name the numbers file: as the person gave it."""
        return self.submitted_as or self.numbers_file

    def task_call(self):
        """The `task.TaskCall` its chunks are sent with: the task by name, never code."""
        from .task import TaskCall  # the CLI's imports stay light

        return TaskCall(self.task, self.params, self.on_error, self.task_version)

    def to_dict(self) -> dict:
        """A plain mapping, kept in the spool so a restarted daemon runs the same job."""
        # field by field: asdict would copy each of a job's numbers, one call a number
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["pool"] = asdict(self.pool)
        out["params"] = copy.deepcopy(self.params)
        for name in ("numbers", "range"):
            if out[name] is not None:
                out[name] = list(out[name])
        if self.chunk_caps is not None:
            out["chunk_caps"] = [list(pair) for pair in self.chunk_caps]
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        """The inverse of `to_dict`."""
        data = dict(data)
        data["pool"] = PoolSettings(**data["pool"])
        if data.get("numbers") is not None:
            data["numbers"] = tuple(data["numbers"])
        if data.get("range") is not None:
            data["range"] = tuple(data["range"])
        if data.get("chunk_caps") is not None:
            data["chunk_caps"] = tuple(map(tuple, data["chunk_caps"]))
        return cls(**data)

    def settings_summary(self) -> dict:
        """The pool settings actually used, as reported in the result."""
        return {
            "processes": self.pool.processes,
            "chunksize": self.chunksize,
            "maxtasksperchild": self.pool.maxtasksperchild,
            "start_method": self.pool.start_method,
            "ordered": self.ordered,
            "timeout": self.timeout,
        }


def numbered_ids(wanted: str) -> Iterator[str]:
    """`wanted`, then `wanted-2`, `wanted-3`, ... `wanted-NUMBERED_MAX`, cut so that each
    is a valid id: the ids a job is given, in turn, while the one before is taken."""
    yield wanted
    stem = wanted[:JOB_ID_MAX - len(f"-{NUMBERED_MAX}")]
    for n in range(2, NUMBERED_MAX + 1):
        yield f"{stem}-{n}"


def default_job_id(path: Path) -> str:
    """The id a job file gets when it names none: its stem, made safe for a file name."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", path.stem)[:JOB_ID_MAX].lstrip(".")
    return stem or "job"


def peek_job_id(path: Path, name: str | None = None) -> str:
    """The id of a queued job file without parsing it all: cheap enough for `status`.
    `name` is the file's name in jobs/ when `path` is elsewhere (a claimed job)."""
    return peek_job(path, name)[0]


def peek_job(path: Path, name: str | None = None) -> tuple[str, int]:
    """A queued job file's id and priority, from `id:` and `priority:` lines at the
    start of a line in its first PEEK_BYTES, without parsing it: what orders the queue.
    A file that names none (or one out of range, which its validation fails) gets the
    default id and priority 0."""
    fallback = default_job_id(Path(name or path.name))
    try:
        fd, _ = open_regular(path)
    except OSError:  # gone, a symlink, or no regular file (NotARegularFile)
        return fallback, 0
    try:
        head = os.read(fd, PEEK_BYTES)
    finally:
        os.close(fd)
    found_id, found_priority = _PEEK_ID.search(head), _PEEK_PRIORITY.search(head)
    priority = int(found_priority.group(1)) if found_priority else 0
    return (found_id.group(1).decode() if found_id else fallback,
            priority if abs(priority) <= PRIORITY_MAX else 0)
