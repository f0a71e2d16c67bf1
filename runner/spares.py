"""Spares: empty files and folders that the daemon makes while it waits, so that none
is made on a job's path.

A job's path makes a claim folder and its `source` file, then writes its spec, progress
and result, each in a new file renamed into place. Making a file or folder costs 20-40
us on a quiet ext4, but up to 1 ms once many files were deleted lately (on this
project's machines: bench/latency.py prints it), and a round trip on NFS; writing into a
file that exists and renaming it costs neither. So the daemon keeps a stock of empty
files and folders in a folder of its own (jobs/.state/spares/<random>/, flocked while it
lives), made one at a time when its loop has nothing else to do (while a job's chunks
are computed, say); the job's path takes them: `Spool.write_atomically` writes into a
spare file, `Spool.claim` builds its claim in a spare folder. When the stock is out (a
burst of jobs leaves the loop no idle moment), they are made on the spot, as without
spares.

A daemon's stock dies with it: the next daemon to start removes each stock whose owner
is gone (its folder not flocked).
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Optional

from .jobdir import lock, try_lock

log = logging.getLogger("runner.spares")

STOCK = 8  # files, and as many folders: a job takes one folder and at most four files


class Spares:
    """A stock of up to `stock` empty files and as many folders in a new flocked folder
    inside `parent` (built in `tmp`, on the same filesystem)."""

    def __init__(self, parent: Path, tmp: Path, stock: int = STOCK):
        _remove_orphans(parent)
        name = uuid.uuid4().hex
        building = tmp / name  # locked before it appears in `parent`, where it would be an orphan
        building.mkdir()
        self._lock_fd = lock(building)
        self._folder = parent / name
        os.rename(building, self._folder)
        self._stock = stock
        self._files: collections.deque[Path] = collections.deque()
        self._folders: collections.deque[Path] = collections.deque()
        self._made = 0
        self._failing = False

    def take_file(self) -> Optional[Path]:
        """An empty file to write and rename into place; None if the stock is out."""
        return _take(self._files)

    def take_folder(self) -> Optional[Path]:
        """An empty folder to fill and rename into place; None if the stock is out."""
        return _take(self._folders)

    def make_one(self) -> bool:
        """Make one spare the stock lacks; False if it lacks none, or if the disk refuses
        (then the stock is dropped, and the job's path makes its own, as without spares)."""
        if len(self._folders) < self._stock:
            stock, make = self._folders, os.mkdir
        elif len(self._files) < self._stock:
            stock, make = self._files, _make_file
        else:
            return False
        self._made += 1
        path = self._folder / str(self._made)
        try:
            make(path)
        except OSError as error:  # the disk is full, say, or the folder was removed: the
            # spares made may be gone too, so none is handed out until one can be made
            if not self._failing:
                log.warning("cannot make spare files in %s (%s); jobs make theirs as they go",
                            self._folder, error)
            self._failing = True
            self._files.clear()
            self._folders.clear()
            return False
        self._failing = False
        stock.append(path)
        return True

    def close(self) -> None:
        """Remove the stock left."""
        shutil.rmtree(self._folder, ignore_errors=True)
        os.close(self._lock_fd)


def _take(stock: collections.deque) -> Optional[Path]:
    try:
        return stock.popleft()  # one step, safe from any thread
    except IndexError:
        return None


def _make_file(path: Path) -> None:
    # as open(path, "wb") would make it: 0o666 less the umask
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))


def _remove_orphans(parent: Path) -> None:
    """Remove the stocks whose daemon is gone."""
    for folder in parent.iterdir():
        fd = try_lock(folder)
        if fd is not None:
            shutil.rmtree(folder, ignore_errors=True)
            os.close(fd)
