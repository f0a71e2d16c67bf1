"""Who serves a spool: each running daemon's entry in jobs/.state/daemons/.

A daemon writes `<host>-<pid>.json` (host, pid, since, backend, processes, version, and
the tasks it found installed as it started, each with its package's release)
and holds an flock on it for as long as it lives; the kernel drops the lock when the
daemon dies, however it dies. A reader that finds an entry's lock free removes it,
so the folder always says which daemons really serve the spool.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .jobdir import json_or_none, lock_held
from .spool import Spool, entries


@dataclass
class DaemonEntry:
    """This daemon's entry in the spool, locked while `fd` is open."""

    path: Path
    fd: int

    def remove(self) -> None:
        """Take the entry out of the spool: the daemon no longer serves it."""
        self.path.unlink(missing_ok=True)
        os.close(self.fd)

    def forget(self) -> None:
        """In a forked child: close its copy of the entry's descriptor (the daemon's own
        keeps the lock)."""
        os.close(self.fd)


def register(spool: Spool, record: dict) -> DaemonEntry:
    """Say in the spool that this process serves it, with `record` (host, pid, ...).
    The entry is flocked before it appears, and the kernel drops the lock when this
    process dies, so a reader never takes a live daemon for a dead one."""
    import multiprocessing.util  # here: a command that registers no daemon need not load it

    temp = spool.temp_path("daemon.json")
    temp.write_text(json.dumps(record), encoding="utf-8")
    fd = os.open(temp, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    path = spool.daemons / f"{record['host']}-{record['pid']}.json"
    os.rename(temp, path)
    entry = DaemonEntry(path, fd)
    # a pool worker forked from the daemon must not keep the lock after the daemon died
    multiprocessing.util.register_after_fork(entry, DaemonEntry.forget)
    return entry


def serving(spool: Spool) -> list[dict]:
    """The records of the daemons serving the spool now, oldest first. An entry whose
    lock is free was left by a daemon that died: it is removed."""
    found = []
    for path in entries(spool.daemons):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:  # removed meanwhile: its daemon stopped
            continue
        try:
            if lock_held(fd):
                record = json_or_none(path)
                if record is not None:
                    found.append(record)
            else:
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return sorted(found, key=lambda record: record.get("since", ""))
