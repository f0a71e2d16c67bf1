"""End-to-end supervision: pool workers killed mid-chunk, a poison chunk, a chunk past
its timeout. A real daemon; the test finds its pool workers (`pool_workers`, since
DaemonProcess.worker_pids misses forkserver workers) and tells a computing one by
the CPU time it uses."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path
from typing import Optional

import gmpy2
import pytest

from conftest import drop_job, read_result, result_primes, wait_for_result, write_config

pytestmark = pytest.mark.timeout(120)

_TICKS = os.sysconf("SC_CLK_TCK")


# -- helpers -----------------------------------------------------------------------


def cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU time of a live process; None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        table[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return table


def pool_workers(daemon) -> list[int]:
    """Pids of the daemon's pool workers, whatever their start method.

    conftest's DaemonProcess.worker_pids() finds none for forkserver pools (the
    default): a worker forked by the forkserver keeps the forkserver's command line,
    which that helper filters out. Here only the forkserver itself (the daemon's own
    child) and the resource tracker are left out."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, stack = [], [daemon.pid]
    while stack:
        parent = stack.pop()
        for pid in children.get(parent, []):
            stack.append(pid)
            cmdline = table[pid][1]
            if "resource_tracker" in cmdline:
                continue
            if "forkserver import main" in cmdline and parent == daemon.pid:
                continue
            found.append(pid)
    return found


def busy_workers(daemon, interval: float = 0.15) -> list[int]:
    """Pool workers that computed for most of the last `interval` seconds."""
    before = {pid: cpu_seconds(pid) for pid in pool_workers(daemon)}
    time.sleep(interval)
    busy = []
    for pid, start in before.items():
        now = cpu_seconds(pid)
        if start is not None and now is not None and now - start >= interval * 0.3:
            busy.append(pid)
    return busy


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_ready(daemon) -> None:
    wait_until(lambda: "daemon started" in daemon.log() or not daemon.alive(), 15, "daemon start")
    assert daemon.alive(), daemon.log()


def chunks_recorded(spool, job_id: str) -> int:
    """`D` lines in the running job's journal: chunks whose primes are in its output."""
    try:
        text = (spool.jobs / ".state" / "running" / job_id / "journal").read_text()
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if line.startswith("D "))


@functools.lru_cache(maxsize=None)
def big_reference(start: int, stop: int) -> tuple[int, ...]:
    """The primes of [start, stop) by gmpy2.is_prime, the reference we trust."""
    return tuple(n for n in range(start, stop) if gmpy2.is_prime(n))


SMALL = [2, 3, 4, 5, 97, 100, 7919, 7921]
SMALL_PRIMES = [2, 3, 5, 97, 7919]


# -- tests ---------------------------------------------------------------------------


def test_worker_sigkilled_mid_chunk_is_retried_and_the_result_is_exact(spool, start_daemon):
    # 12 chunks of ~0.3 s CPU each (2000-bit numbers) on 2 workers
    start, count, chunksize = 2 ** 2000, 21_600, 1_800
    expected = list(big_reference(start, start + count))
    daemon = start_daemon()
    drop_job(spool, "victim.yaml", {"id": "victim", "range": {"start": start, "stop": start + count},
                                    "pool": {"processes": 2, "chunksize": chunksize}})
    # past the pool's start-up, pick a worker that is computing
    wait_until(lambda: chunks_recorded(spool, "victim") >= 1, 30, "a first chunk recorded")
    busy = wait_until(lambda: busy_workers(daemon, 0.1) or read_result(spool, "victim") is not None,
                      30, "a worker computing a chunk")
    assert busy is not True, "the job finished before a worker could be killed; make it longer"
    os.kill(busy[0], signal.SIGKILL)
    assert read_result(spool, "victim") is None, "the job finished before the kill"

    result = wait_for_result(spool, "victim", timeout=60)
    assert result["state"] == "done", (result, daemon.log())
    assert result_primes(spool, result) == expected
    assert result["numbers_tested"] == count
    assert result["chunks"]["done"] == count // chunksize
    assert result["chunks"]["retried"] >= 1, (result, daemon.log())
    assert daemon.alive(), daemon.log()
    assert daemon.stop() == 0


def test_poison_chunk_fails_the_job_after_max_chunk_attempts(spool, start_daemon):
    write_config(spool.root, max_chunk_attempts=2)
    # one chunk of ~3.5 s CPU (4000-bit numbers) on one worker
    start, count = 2 ** 4000, 3_000
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "poison.yaml", {"id": "poison", "range": {"start": start, "stop": start + count},
                                    "pool": {"processes": 1, "chunksize": count}})
    killed: set[int] = set()
    deadline = time.monotonic() + 60
    while read_result(spool, "poison") is None:
        assert time.monotonic() < deadline, f"no result; killed {killed}; log:\n{daemon.log()}"
        for pid in pool_workers(daemon):
            # a fresh worker has used well under 0.4 s of CPU: this one is computing the chunk
            used = cpu_seconds(pid)
            if pid not in killed and used is not None and used > 0.4:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.02)

    result = read_result(spool, "poison")
    assert result["state"] == "failed", (result, daemon.log())
    error = result["error"]
    message = error["message"]
    assert "chunk 0" in message, error
    assert "signal 9" in message or "SIGKILL" in message, (error, daemon.log())
    assert "2 tries" in message, error
    assert error.get("chunk") == 0, error
    assert error.get("fix"), error
    assert len(killed) == 2, f"killed {len(killed)} workers for max_chunk_attempts 2"
    # the first loss, retried, is logged (a warning) with its cause too
    warnings = [line for line in daemon.log().splitlines()
                if " WARNING " in line and "poison" in line]
    assert warnings, daemon.log()
    for line in warnings:
        assert "signal 9" in line or "SIGKILL" in line, line[-200:]

    assert daemon.alive(), daemon.log()
    drop_job(spool, "after.yaml", {"id": "after", "numbers": SMALL, "pool": {"processes": 1}})
    after = wait_for_result(spool, "after", timeout=20)
    assert after["state"] == "done", (after, daemon.log())
    assert result_primes(spool, after) == SMALL_PRIMES
    assert daemon.stop() == 0


def test_chunk_past_its_timeout_fails_the_job_within_seconds(spool, start_daemon):
    # one chunk of ~6 s CPU; the job allows 1 s
    start, count = 2 ** 4000, 5_000
    daemon = start_daemon()
    wait_ready(daemon)
    dropped = time.monotonic()
    drop_job(spool, "slow.yaml", {"id": "slow", "range": {"start": start, "stop": start + count},
                                  "pool": {"processes": 1, "chunksize": count}, "timeout": 1})
    result = wait_for_result(spool, "slow", timeout=20)
    took = time.monotonic() - dropped
    assert result["state"] == "failed", (result, daemon.log())
    error = result["error"]
    assert "timeout" in error["message"], error
    assert "chunk 0" in error["message"], error
    assert "timeout" in error.get("fix", ""), error
    assert took < 4.5, f"the timed-out job took {took:.1f} s to fail"
    assert result["timings"]["seconds"] < 3.5, result["timings"]

    # the stopped worker does not go on computing, and the pool serves the next job
    wait_until(lambda: not busy_workers(daemon), 2, "no worker computing after the timeout")
    drop_job(spool, "next.yaml", {"id": "next", "numbers": SMALL, "pool": {"processes": 1}})
    after = wait_for_result(spool, "next", timeout=10)
    assert after["state"] == "done" and result_primes(spool, after) == SMALL_PRIMES
    assert daemon.alive(), daemon.log()
    assert daemon.stop() == 0
