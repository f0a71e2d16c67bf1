"""The queue: the job files waiting in jobs/, in the order they are to run.

Higher priority first, then first come, first served (modification time), then name;
hidden names (files being written, claimed files) are not queued. A file's id and
priority are peeked from its head (job.peek_job), once per name and file identity:
a rescan of 10,000 queued files peeks at none of them again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Optional

from .job import JOB_SUFFIXES, peek_job


class QueuedFile(NamedTuple):
    """A job file waiting in jobs/, with what orders it: priority (higher first), then
    modification time (first come, first served), then name."""

    path: Path
    id: str
    priority: int
    mtime: float

    @property
    def order(self) -> tuple:
        return (-self.priority, self.mtime, self.path.name)


class Queue:
    """The queued files of one jobs/ folder, each peeked once while it stays the same."""

    def __init__(self, jobs: Path):
        self._jobs = jobs
        # name -> (file identity, its QueuedFile), as of the last listing
        self._peeked: dict[str, tuple[tuple, QueuedFile]] = {}

    def files(self) -> list[QueuedFile]:
        """Job files waiting in jobs/, in the order they are to run; only the names
        still queued stay peeked."""
        found, peeked = [], {}
        with os.scandir(self._jobs) as listing:
            for entry in listing:
                if entry.name.startswith(".") or not entry.name.endswith(JOB_SUFFIXES):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                found.append(self._peek(entry.name, info, peeked))
        self._peeked = peeked
        return sorted(found, key=lambda queued: queued.order)

    def paths(self) -> list[Path]:
        """The paths of `files()`, in the same order."""
        return [queued.path for queued in self.files()]

    def get(self, name: str) -> Optional[QueuedFile]:
        """The job file `name` in jobs/, if it is there (and not hidden)."""
        if name.startswith(".") or not name.endswith(JOB_SUFFIXES):
            return None
        try:
            info = os.lstat(self._jobs / name)
        except OSError:
            return None
        return self._peek(name, info, self._peeked)

    def _peek(self, name: str, info: os.stat_result, peeked: dict) -> QueuedFile:
        identity = (info.st_ino, info.st_mtime_ns, info.st_size)
        cached = self._peeked.get(name)
        if cached is None or cached[0] != identity:
            path = self._jobs / name
            cached = (identity, QueuedFile(path, *peek_job(path), info.st_mtime))
        peeked[name] = cached
        return cached[1]
