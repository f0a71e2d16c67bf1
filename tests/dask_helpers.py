"""Helpers for the Dask backend's tests: a spool pointed at a cluster, and a test's own
`distributed.Client` that hears every chunk start (the backend's START_TOPIC) and can
kill the worker that took it, as a crash or a poison chunk would."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from conftest import write_config

from runner.dask_backend import START_TOPIC


def write_dask_config(root: Path, scheduler: str, **overrides) -> None:
    write_config(root, backend="dask", dask={"scheduler": scheduler, "connect_timeout": 1.0},
                 **overrides)


class ChunkStarts:
    """Every chunk start the cluster reports, and SIGKILL for the workers that start
    the chunks named in `kill` (`kill_once`: only the first time each)."""

    def __init__(self, client):
        self.starts: list[dict] = []
        self.killed: list[int] = []
        self.kill: set[int] = set()
        self.kill_once = True
        self._lock = threading.Lock()
        client.subscribe_topic(START_TOPIC, self._started)

    def reset(self, kill=(), once: bool = True) -> None:
        with self._lock:
            self.starts.clear()
            self.killed.clear()
            self.kill, self.kill_once = set(kill), once

    def _started(self, event) -> None:
        message = event[1]
        with self._lock:
            self.starts.append(message)
            if message["chunk"] in self.kill:
                if self.kill_once:
                    self.kill.discard(message["chunk"])
                self.killed.append(message["pid"])
                os.kill(message["pid"], signal.SIGKILL)
