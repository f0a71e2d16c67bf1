"""The watcher: tells the daemon, from watchdog's threads, the moment a file in jobs/
is whole: closed after writing, or moved in.

On Linux, watchdog's inotify backend holds the first half of every move (IN_MOVED_FROM)
for 0.5 s while it waits for the second, and every event queued behind it; even when the
second half follows at once, its thread may already be asleep on the first (of 2,000
renames within the folder, in a burst, 25 to 90% were told 0.4 s or more late). So the
watch asks the kernel for the second half alone (IN_MOVED_TO), and for closes after writing:
a claim, one rename of the file out of jobs/, wakes no thread, and the opens, reads and
deletions of claims and rescans wake none either. A move in then arrives alone, and
watchdog tells it as a move from nowhere. Other backends hold no event and keep
watchdog's own observer. An event lost costs time only: the daemon's rescan finds the
file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

if Observer.__module__ == "watchdog.observers.inotify":  # importable only where it was chosen
    from watchdog.observers.inotify import InotifyFullEmitter
    from watchdog.observers.inotify_c import InotifyConstants

    class _ArrivalsEmitter(InotifyFullEmitter):
        """watchdog's inotify emitter, watching for moves in and closes after writing
        only. (A full emitter tells a move from outside the watched folder as a
        FileMovedEvent, as on the other backends, rather than as a creation.)"""

        def get_event_mask_from_filter(self) -> int:
            return (InotifyConstants.IN_MOVED_TO | InotifyConstants.IN_CLOSE_WRITE
                    | InotifyConstants.IN_DELETE_SELF)  # the last: watchdog stops on it

    def _observer() -> BaseObserver:
        # on watchdog 7, such emitters share the process's one inotify reader thread, as
        # 7.0's own observer's did
        return BaseObserver(emitter_class=_ArrivalsEmitter)
else:
    _observer = Observer


class _Arrivals(FileSystemEventHandler):
    """Calls `arrived(name)` for each file of `folder` closed after writing or moved
    in, whose name does not start with '.' (hidden: being written)."""

    def __init__(self, folder: Path, arrived: Callable[[str], None]):
        self._folder, self._arrived = str(folder), arrived

    def on_any_event(self, event) -> None:
        if isinstance(event, FileMovedEvent):
            path = event.dest_path
        elif isinstance(event, FileClosedEvent):
            path = event.src_path
        else:
            return
        folder, _, name = path.rpartition("/")
        if folder == self._folder and not name.startswith("."):
            self._arrived(name)


def watch_jobs(folder: Path, arrived: Callable[[str], None]) -> BaseObserver:
    """Start watching `folder` (not its subfolders): `arrived(name)` is called, from
    another thread, for each file of it closed after writing or moved in whose name
    does not start with '.'. Stop and join the observer returned to stop."""
    observer = _observer()
    observer.schedule(_Arrivals(folder, arrived), str(folder), recursive=False,
                      event_filter=[FileMovedEvent, FileClosedEvent])
    observer.start()
    return observer
