"""The job: its states, its id, and what is peeked from a queued job file.

The job file's format and its validation live in jobfile.py, and the resolved form the
daemon runs in spec.py; this module is kept free of heavy imports (and of dataclasses,
about 0.3 ms each to build) so that the CLI starts fast.
"""

from __future__ import annotations

import enum
import os
import re
from pathlib import Path
from typing import Iterator

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
START_METHODS = ("fork", "spawn", "forkserver")  # how a pool's workers may start


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
