"""The watcher: tells the daemon, from a thread of its own, the moment a file in jobs/ is
whole: closed after writing, or moved in.

On Linux one thread reads inotify (through inotify_simple) and calls the daemon at once.
watchdog, which the other systems use, passes each event through four threads on Linux
(its reader, its dispatcher, the emitter, the observer): 332 us from a rename to the call
and 73 us of CPU an event in a burst, against 83 and 36 us for this watch, and 115 and 35
for a bare inotify reader (`bench/watcher.py`, the three in turn). Its inotify backend
also held the first half of every move for 0.5 s, and every event behind it.

The kernel is asked for moves in and closes after writing only: a claim, one rename of
the file out of jobs/, wakes no thread, nor do the opens, reads and deletions of claims
and rescans. A move in is told at once, a close CLOSED_HOLD_SECONDS after it. An event
lost (the kernel's queue overflowed) costs time only: the daemon's rescan finds the file.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Protocol

# A writer in place may touch the file's attributes just after closing it (rsync --inplace
# sets its times and mode by its name): claimed at once, the file is gone from under it and
# it fails (exit 23). watchdog's threads told a close about 0.3 ms after it; this is three
# times that, for a writer the scheduler holds back a little. (`runner submit`'s own
# close pays it too: 1 ms against the command's 50 ms or more.)
CLOSED_HOLD_SECONDS = 0.001


class Watch(Protocol):
    """What `watch_jobs` returns: stop it, then join it."""

    def stop(self) -> None: ...

    def join(self, timeout: Optional[float] = None) -> None: ...


def watch_jobs(folder: Path, arrived: Callable[[str], None]) -> Watch:
    """Start watching `folder` (not its subfolders): `arrived(name)` is called, from
    another thread, for each file of it closed after writing or moved in whose name
    does not start with '.' (hidden: being written). Stop and join the watch returned
    to stop."""
    if sys.platform == "linux":
        return _InotifyWatch(folder, arrived)
    return _observe(folder, arrived)


class _InotifyWatch:
    """One thread reading one inotify instance that watches one folder."""

    def __init__(self, folder: Path, arrived: Callable[[str], None]):
        from inotify_simple import INotify, flags

        self._moved_in = flags.MOVED_TO
        self._inotify = INotify()
        self._inotify.add_watch(str(folder), flags.MOVED_TO | flags.CLOSE_WRITE | flags.ONLYDIR)
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._read, args=(arrived,), name="watcher",
                                        daemon=True)
        self._thread.start()

    def _read(self, arrived: Callable[[str], None]) -> None:
        while True:
            ready, _, _ = select.select([self._inotify, self._wake_read], [], [])
            if self._wake_read in ready:
                return
            closed = []
            for event in self._inotify.read(timeout=0):
                # an overflow, or the folder gone, has no name: the rescan covers both
                if not event.name or event.name.startswith("."):
                    continue
                if event.mask & self._moved_in:
                    arrived(event.name)
                else:
                    closed.append(event.name)
            if closed:
                time.sleep(CLOSED_HOLD_SECONDS)
                for name in closed:
                    arrived(name)

    def stop(self) -> None:
        os.write(self._wake_write, b"x")

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._inotify.close()
            os.close(self._wake_read)
            os.close(self._wake_write)


def _observe(folder: Path, arrived: Callable[[str], None]) -> Watch:
    from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Arrivals(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            if isinstance(event, FileMovedEvent):
                path = event.dest_path
            elif isinstance(event, FileClosedEvent):
                path = event.src_path
            else:
                return
            parent, _, name = path.rpartition("/")
            if parent == str(folder) and not name.startswith("."):
                arrived(name)

    observer = Observer()
    observer.schedule(Arrivals(), str(folder), recursive=False,
                      event_filter=[FileMovedEvent, FileClosedEvent])
    observer.start()
    return observer
