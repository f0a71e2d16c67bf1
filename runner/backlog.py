"""The daemon's backlog: the queued files it knows of, in run order, and when each is
whole enough to claim.

A file some process still holds open for writing is never taken, however long
its writer pauses (writers.py asks the kernel): it leaves the backlog, and its
close event, or the next rescan, brings it back. Where writers.py cannot tell
(another user's writer, a network or FUSE filesystem), a file is taken once a
close or move event announced it, or once it has not changed for SETTLE_SECONDS.
"""

from __future__ import annotations

import heapq
import os
import time
from pathlib import Path
from typing import Optional

from .queued import QueuedFile
from .writers import Writers, probe_writers

# Where no probe can tell: a file seen only by a rescan (no close or move event) must be
# this old to be taken as whole.
SETTLE_SECONDS = 1.0
HOLD_UNSETTLED_SECONDS = 2 * SETTLE_SECONDS


class Backlog:
    """Queued files to claim, a heap in run order (queued.QueuedFile.order)."""

    def __init__(self) -> None:
        self._heap: list[tuple[tuple, Path]] = []
        self._names: set[str] = set()
        self._announced: set[str] = set()  # names a close or move event said are whole
        self._unsettled: dict[str, float] = {}  # name -> when it first held the backlog back
        self._watching_since = 0.0

    def __bool__(self) -> bool:
        return bool(self._heap)

    def start_watching(self) -> None:
        """Files written from now on are announced by their events."""
        self._watching_since = time.time()

    def add(self, queued: QueuedFile) -> None:
        """Put a queued file in its place in the run order (once)."""
        if queued.path.name not in self._names:
            self._names.add(queued.path.name)
            heapq.heappush(self._heap, (queued.order, queued.path))

    def announce(self, queued: QueuedFile) -> None:
        """A close-after-write or move event said `queued` is whole: add it."""
        self._announced.add(queued.path.name)
        self.add(queued)

    def keep_only(self, names: set[str]) -> None:
        """Forget what is known of files no longer queued (a rescan's names)."""
        self._unsettled = {name: t for name, t in self._unsettled.items() if name in names}
        self._announced &= names

    def next_to_claim(self) -> Optional[Path]:
        """The first file in run order that is whole, taken out of the backlog; None if
        there is none, or if the first is a file of unknown writers written before the
        watch began, which holds the files behind it back, once, for up to
        HOLD_UNSETTLED_SECONDS (no event will announce it: this lets a job queued just
        before the daemon started run in its turn). Files still being written leave the
        backlog: their close event, or a later rescan, brings them back."""
        while self._heap:
            path = self._heap[0][1]
            writers = probe_writers(path)
            if writers is Writers.UNKNOWN and not self._settled(path):
                mtime = _mtime(path)
                now = time.monotonic()
                if mtime is not None and mtime < self._watching_since and \
                        now - self._unsettled.setdefault(path.name, now) < HOLD_UNSETTLED_SECONDS:
                    return None
                writers = Writers.WRITING
            self._pop(path)
            if writers is not Writers.WRITING:
                self._unsettled.pop(path.name, None)
                self._announced.discard(path.name)
                return path
        return None

    def _settled(self, path: Path) -> bool:
        mtime = _mtime(path)
        return (mtime is None or path.name in self._announced
                or time.time() - mtime >= SETTLE_SECONDS)

    def _pop(self, path: Path) -> None:
        heapq.heappop(self._heap)
        self._names.discard(path.name)


def _mtime(path: Path) -> Optional[float]:
    """When `path` was last written (None if it is gone)."""
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return None
