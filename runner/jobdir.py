"""A job's folder in the spool: the files it holds, and the flock that says which live
process owns the job.

A job folder is flocked by the process that owns the job (the kernel drops the lock
when that process dies, so a free lock on a running job means its daemon died and the
job may be adopted; the lock is on the folder itself, so it moves with it and costs no
file). It holds `job.yaml` (the file as dropped), `source` (the name it was dropped as)
and, once the job runs, its resolved spec, its progress and (for a job of several
chunks) its checkpoint. Where the folder is, and every move of it, is spool.py's.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

JOB_FILE, SOURCE_FILE = "job.yaml", "source"
SPEC_FILE, PROGRESS_FILE, CANCEL_FILE = "spec.json", "progress.json", "cancel"
INPUT_FILE = "input.numbers"  # the job's own copy of a numbers file `runner submit` stored


@dataclass
class JobDir:
    """A job's folder in the spool, locked by this process while `lock_fd` is open."""

    path: Path
    lock_fd: Optional[int] = None
    # source_name(), once known: read from `source`, or given by the claim that wrote it
    known_source: Optional[str] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # a pool worker forked from the daemon (start_method: fork) would hold the job's
        # lock on after the daemon died, and a dead daemon's job would look served
        import multiprocessing.util  # here: a command that makes no JobDir need not load it

        multiprocessing.util.register_after_fork(self, JobDir._forget_lock)

    def _forget_lock(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # the child's copy; the daemon's keeps the lock
            self.lock_fd = None

    @property
    def id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    def source_name(self) -> str:
        """The name the job file had in jobs/, as text for messages (bytes that are not
        UTF-8, which a file name may hold, shown as U+FFFD). Read once: it never changes."""
        if self.known_source is None:
            try:
                self.known_source = shown_name(self.file(SOURCE_FILE).read_bytes())
            except OSError:
                return JOB_FILE
        return self.known_source

    def read_json(self, name: str) -> Optional[dict]:
        return json_or_none(self.file(name))

    def try_own(self) -> bool:
        """Lock the folder if no live process holds it."""
        self.lock_fd = try_lock(self.path)
        return self.lock_fd is not None

    def is_served(self) -> bool:
        """Whether a live process holds the running job's folder (its daemon is alive)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # it moved on: finished, so it was served
            return True
        try:
            return lock_held(fd)
        finally:
            os.close(fd)

    def release(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None


def shown_name(raw: bytes) -> str:
    """A file name's bytes as text for messages (bytes that are not UTF-8 as U+FFFD)."""
    return raw.decode("utf-8", "replace")


def lock(folder: Path) -> int:
    """An exclusive flock on `folder`, as the descriptor that holds it; OSError
    (BlockingIOError) if a live process holds it."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def try_lock(folder: Path) -> Optional[int]:
    """Lock `folder` if no live process holds it and it is still where we looked for it
    (its owner may have moved it on between our open and our flock)."""
    try:
        fd = lock(folder)
    except OSError:  # held by a live process (BlockingIOError), or the folder moved on
        return None
    try:
        still_there = os.stat(folder).st_ino == os.fstat(fd).st_ino
    except OSError:
        still_there = False
    if not still_there:
        os.close(fd)
        return None
    return fd


def lock_held(fd: int) -> bool:
    """Whether a live process holds an exclusive flock on `fd`'s file (tested with a
    shared lock, dropped at once, so two readers never stand in each other's way)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def json_or_none(path: Path) -> Optional[dict]:
    """The JSON document at `path`; None if it is gone or not whole JSON."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
