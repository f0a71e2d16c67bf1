"""Helpers for the Dask backend's tests: a spool pointed at a cluster, and a test's own
`distributed.Client` that hears every chunk start (the backend's START_TOPIC) and can
kill the worker that took it, as a crash or a poison chunk would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from conftest import free_port, write_config

from runner.dask_link import START_TOPIC


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


class CliCluster:
    """`dask scheduler` on a fixed port and `dask worker` machines, started on demand."""

    def __init__(self):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.machines: list[subprocess.Popen] = []

    def _spawn(self, *args: str) -> subprocess.Popen:
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
        return subprocess.Popen([sys.executable, "-m", "dask", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def start(self, machines: int = 2) -> None:
        self.scheduler = self._spawn("scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                     "--no-dashboard")
        self.machines = [self._spawn("worker", self.address, "--nworkers", "1", "--nthreads", "1",
                                     "--no-dashboard", "--name", f"machine-{n}")
                         for n in range(machines)]

    def lose_machine(self, index: int) -> None:
        """SIGKILL a machine's nanny and worker at once."""
        _kill_group(self.machines[index])

    def kill(self) -> None:
        for process in [*self.machines, *([self.scheduler] if self.scheduler else [])]:
            _kill_group(process)
        self.scheduler, self.machines = None, []


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)
