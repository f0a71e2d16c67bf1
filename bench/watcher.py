"""The watcher: how soon, and at what CPU cost, the daemon hears of a file moved into jobs/.

    python bench/watcher.py [--renames 200] [--burst 2000] [--rounds 3]

Times, side by side in one run, the runner's watcher (`runner.watcher.watch_jobs`: on
Linux one thread reading inotify) and watchdog's observer with its inotify emitter (what
the runner used before on Linux; it still uses watchdog elsewhere), and the floor: a thread
waiting on an inotify descriptor of its own, reading it and decoding the names, nothing
more. For each: the median time from `os.rename` into the folder to the
callback, over `--renames` renames 10 ms apart; and the CPU time of this process per
event for a burst of `--burst` renames (the renames' own cost included, the same for all
three). Medians over the rounds.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import queue
import select
import shutil
import statistics
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from runner import watcher

_IN_CLOSE_WRITE, _IN_MOVED_TO = 0x8, 0x80


class _FloorWatch:
    """A thread waiting on an inotify descriptor, reading it and decoding the names: the
    least a watch can cost."""

    def __init__(self, folder: Path, arrived: Callable[[str], None]):
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_CLOEXEC)
        libc.inotify_add_watch(self._fd, str(folder).encode(), _IN_MOVED_TO | _IN_CLOSE_WRITE)
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._read, args=(arrived,), daemon=True)
        self._thread.start()

    def _read(self, arrived: Callable[[str], None]) -> None:
        while self._wake_read not in select.select([self._fd, self._wake_read], [], [])[0]:
            data, at = os.read(self._fd, 1 << 16), 0
            while at < len(data):
                _, _, _, size = struct.unpack_from("iIII", data, at)
                arrived(data[at + 16:at + 16 + size].rstrip(b"\0").decode())
                at += 16 + size

    def stop(self) -> None:
        os.write(self._wake_write, b"x")

    def join(self, timeout=None) -> None:
        self._thread.join(timeout)
        for fd in (self._fd, self._wake_read, self._wake_write):
            os.close(fd)


def _watchdog_watch(folder: Path, arrived: Callable[[str], None]):
    """watchdog's observer with its full inotify emitter (which tells a move in from
    another folder as a move), as the runner used it before."""
    from watchdog.events import FileMovedEvent, FileSystemEventHandler
    from watchdog.observers.api import BaseObserver
    from watchdog.observers.inotify import InotifyFullEmitter

    class MovesIn(FileSystemEventHandler):
        def on_moved(self, event) -> None:
            arrived(os.path.basename(event.dest_path))

    observer = BaseObserver(emitter_class=InotifyFullEmitter)
    observer.schedule(MovesIn(), str(folder), event_filter=[FileMovedEvent])
    observer.start()
    return observer


WATCHES = {"runner": watcher.watch_jobs, "watchdog": _watchdog_watch, "floor": _FloorWatch}


def one_round(name: str, renames: int, burst: int) -> tuple[float, float]:
    """(median us from rename to callback, CPU us an event in a burst) for one watch."""
    base = Path(tempfile.mkdtemp(prefix="watcher-bench-"))
    jobs = base / "jobs"
    jobs.mkdir()
    arrived: queue.SimpleQueue = queue.SimpleQueue()
    watch = WATCHES[name](jobs, lambda file: arrived.put((time.perf_counter(), file)))
    try:
        time.sleep(0.2)
        waits = []
        for k in range(renames):
            source = base / f"single-{k}"
            source.write_text("x")
            start = time.perf_counter()
            os.rename(source, jobs / f"single-{k}.yaml")
            waits.append(arrived.get(timeout=5)[0] - start)
            time.sleep(0.01)
        sources = [base / f"burst-{k}" for k in range(burst)]
        for source in sources:
            source.write_text("x")
        cpu = time.process_time()
        for k, source in enumerate(sources):
            os.rename(source, jobs / f"burst-{k}.yaml")
        for _ in range(burst):
            arrived.get(timeout=5)
        cpu = time.process_time() - cpu
    finally:
        watch.stop()
        watch.join(2)
        shutil.rmtree(base)
    return statistics.median(waits) * 1e6, cpu / burst * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renames", type=int, default=200)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in WATCHES}
    for _ in range(args.rounds):
        for name in WATCHES:  # in turn, so that the host's speed moves all alike
            results[name].append(one_round(name, args.renames, args.burst))
    print(f"{'watch':>9}  {'rename to callback':>19}  {'CPU an event (burst)':>20}")
    for name, runs in results.items():
        wait = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:>9}  {wait:>16.0f} us  {cpu:>17.0f} us")


if __name__ == "__main__":
    main()
