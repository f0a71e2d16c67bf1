"""End-to-end supervision: pool workers killed mid-chunk, a poison chunk, a chunk past
its timeout. A real daemon; the test finds its pool workers (conftest's
DaemonProcess.worker_pids, forkserver workers included) and tells a computing one by
the CPU time it uses."""

from __future__ import annotations

import os
import signal
import time

import pytest

from conftest import (big_reference, cpu_seconds, drop_job, kill_a_computing_worker,
                      read_result, result_primes, state_dir, wait_for_result, wait_ready,
                      wait_until, write_config)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


# -- data --------------------------------------------------------------------------


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
    kill_a_computing_worker(spool, daemon, "victim")
    assert read_result(spool, "victim") is None, "the job finished before the kill"

    result = wait_for_result(spool, "victim", timeout=60)
    assert result["state"] == "done", (result, daemon.log())
    assert result_primes(spool, result) == expected
    assert result["numbers_tested"] == count
    assert result["chunks"]["done"] == count // chunksize
    assert result["chunks"]["retried"] >= 1, (result, daemon.log())
    assert daemon.alive(), daemon.log()
    assert daemon.stop() == 0


def test_a_retry_still_counts_after_the_daemon_dies_and_another_resumes(spool, start_daemon):
    """The result's `chunks.retried` is kept in the job's journal: a worker killed, its
    chunk tried again, then the daemon SIGKILLed; the daemon that resumes the job says so."""
    start, count, chunksize = 2 ** 2000, 21_600, 1_800
    first = start_daemon()
    drop_job(spool, "victim.yaml", {"id": "victim", "range": {"start": start, "stop": start + count},
                                    "pool": {"processes": 2, "chunksize": chunksize}})
    kill_a_computing_worker(spool, first, "victim")
    journal = state_dir(spool, "running", "victim") / "journal"
    wait_until(lambda: b"\nL " in journal.read_bytes(), 30, "the retry in the journal")
    first.kill()  # SIGKILL to its whole process group, workers included
    assert read_result(spool, "victim") is None, "the job finished before the daemon's kill"

    second = start_daemon()
    result = wait_for_result(spool, "victim", timeout=60)
    assert result["state"] == "done", (result, second.log())
    assert result["numbers_tested"] == count
    assert result["chunks"]["retried"] >= 1, (result, second.log())
    assert second.stop() == 0


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
        for pid in daemon.worker_pids():
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
    wait_until(lambda: not daemon.busy_workers(), 2, "no worker computing after the timeout")
    drop_job(spool, "next.yaml", {"id": "next", "numbers": SMALL, "pool": {"processes": 1}})
    after = wait_for_result(spool, "next", timeout=10)
    assert after["state"] == "done" and result_primes(spool, after) == SMALL_PRIMES
    assert daemon.alive(), daemon.log()
    assert daemon.stop() == 0
