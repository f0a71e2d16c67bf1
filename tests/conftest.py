"""Shared fixtures: a temporary spool, and a real daemon started and stopped by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from runner.spool import Spool

TEST_CONFIG = {
    "max_processes": 2,
    "rescan_seconds": 0.2,
    "pool_idle_seconds": 5,
}


def write_config(root: Path, **overrides) -> None:
    (root / "config.yaml").write_text(yaml.safe_dump({**TEST_CONFIG, **overrides}))


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    """A fresh spool with a small, fast config."""
    created = Spool.create(tmp_path / "spool")
    write_config(created.root)
    return created


def drop_job(spool: Spool, name: str, job) -> Path:
    """Drop a job file into jobs/ the safe way (hidden name, then rename). `job` is a
    mapping (dumped as YAML) or the file's text."""
    text = job if isinstance(job, str) else yaml.safe_dump(job)
    hidden = spool.jobs / f".{name}.tmp"
    hidden.write_text(text)
    dest = spool.jobs / name
    os.rename(hidden, dest)
    return dest


def read_result(spool: Spool, job_id: str):
    path = spool.outbox / f"{job_id}.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def wait_for_result(spool: Spool, job_id: str, timeout: float = 30.0) -> dict:
    """The job's result once it is in outbox/; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = read_result(spool, job_id)
        if result is not None:
            return result
        time.sleep(0.02)
    raise AssertionError(f"no result for {job_id} within {timeout} s; outbox: "
                         f"{sorted(p.name for p in spool.outbox.iterdir())}")


def result_primes(spool: Spool, result: dict) -> list[int]:
    """The primes of a result, inline or from its primes file."""
    if "primes" in result:
        return result["primes"]
    if "primes_file" in result:
        return [int(line) for line in (spool.outbox / result["primes_file"]).read_text().split()]
    return []


def runner_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", *args]


def run_cli(spool: Spool, *args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `runner` command on the spool."""
    return subprocess.run(runner_command(*args, "--root", str(spool.root)), capture_output=True,
                          text=True, timeout=timeout, **kwargs)


class DaemonProcess:
    """A real `runner start` in its own process group, logging to a file."""

    def __init__(self, spool: Spool, *extra: str):
        self.spool = spool
        self.log_path = spool.root / f"daemon-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            runner_command("start", "--root", str(spool.root), *extra),
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """Pids of the daemon's pool workers: its descendants but for the forkserver and
        the resource tracker, its direct children (a forkserver's workers, its own
        children, keep its command line)."""
        helpers = {pid for pid in _descendants(self.pid, depth=1) if _is_helper(pid)}
        return [pid for pid in _descendants(self.pid) if pid not in helpers]

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the daemon and everything it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self._log.close()


def _descendants(pid: int, depth: int = 1_000) -> list[int]:
    children = []
    try:
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    except OSError:
        return children
    parents: dict[int, list[int]] = {}
    for line in out.split("\n"):
        if line.strip():
            child, parent = (int(x) for x in line.split())
            parents.setdefault(parent, []).append(child)
    stack = [(pid, 0)]
    while stack:
        parent, level = stack.pop()
        if level == depth:
            continue
        for child in parents.get(parent, []):
            children.append(child)
            stack.append((child, level + 1))
    return children


def _is_helper(pid: int) -> bool:
    """The forkserver or the resource tracker."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "forkserver import main" in cmdline or "resource_tracker" in cmdline


@pytest.fixture
def start_daemon(spool: Spool):
    """Start real daemons on the spool; all are killed at the end of the test."""
    started: list[DaemonProcess] = []

    def start(*extra: str, on: Spool = spool) -> DaemonProcess:
        daemon = DaemonProcess(on, *extra)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()
