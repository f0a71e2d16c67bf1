"""End-to-end: a real `runner start` daemon, real job files, real signals.

Each test drops job files into a fresh spool (conftest's `spool`: max_processes 2),
waits for outbox/ by polling with deadlines, and checks results against conftest's
references: a plain sieve for small numbers, gmpy2.is_prime for big ones.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import (BOOK_NUMBERS, BOOK_PRIMES, big_reference, chunks_recorded, drop_job,
                      read_result, result_primes, sieve, state_dir, wait_for_result, wait_ready,
                      wait_until, write_config)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


# -- helpers -----------------------------------------------------------------------


def primes_in(start: int, stop: int) -> list[int]:
    return [p for p in sieve(stop) if p >= start]


def live_group_members(pgid: int) -> list[int]:
    """Pids (not zombies) whose process group is `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def outbox_names(spool) -> set[str]:
    return {p.name for p in spool.outbox.iterdir()}


# Slow work: about 0.16 ms of CPU a number at 2**2000; 24 chunks of 600 take ~1.2 s
# of wall time on two workers. Its few primes are checked with gmpy2 in the test.
SLOW_START = 2 ** 2000
SLOW_COUNT = 14_400
SLOW_CHUNK = 600


def slow_job(job_id: str) -> dict:
    return {"id": job_id, "range": {"start": SLOW_START, "stop": SLOW_START + SLOW_COUNT},
            "pool": {"processes": 2, "chunksize": SLOW_CHUNK}}


# -- tests ---------------------------------------------------------------------------


def test_book_case_study_gives_the_14_primes_in_input_order(spool, start_daemon):
    daemon = start_daemon()
    drop_job(spool, "book.yaml", {"id": "book", "numbers": BOOK_NUMBERS,
                                  "pool": {"processes": 2, "chunksize": 1, "ordered": True}})
    result = wait_for_result(spool, "book")
    assert result["state"] == "done", result
    assert result_primes(spool, result) == BOOK_PRIMES
    assert result["numbers_tested"] == 17
    assert result["primes_found"] == 14
    assert result["chunks"]["done"] == 17
    assert daemon.stop() == 0


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
def test_range_0_to_100000(spool, start_daemon, ordered):
    daemon = start_daemon()
    drop_job(spool, "range.yaml", {"id": "range", "range": {"start": 0, "stop": 100_000},
                                   "pool": {"chunksize": 7_000, "ordered": ordered}})
    result = wait_for_result(spool, "range", timeout=60)
    assert result["state"] == "done", result
    assert result["primes_found"] == 9592
    assert result["numbers_tested"] == 100_000
    assert result["settings"]["ordered"] is ordered
    primes = result_primes(spool, result)
    expected = sieve(100_000)
    if ordered:
        assert primes == expected
    else:
        assert len(primes) == 9592 and sorted(primes) == expected
    assert daemon.stop() == 0


def test_broken_yaml_fails_with_line_and_fix_and_the_rest_run(spool, start_daemon):
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "good1.yaml", {"id": "good1", "numbers": [2, 3, 4, 5]})
    drop_job(spool, "broken.yaml", "id: broken\nnumbers: [1, 2, 3\npool: {processes: 1}\n")
    drop_job(spool, "misspelt.yaml", "id: misspelt\nnumbers: [7, 8]\npool:\n  chunksiz: 5\n")
    drop_job(spool, "good2.yaml", {"id": "good2", "range": {"start": 0, "stop": 1000}})
    drop_job(spool, "good3.yaml", {"id": "good3", "numbers": BOOK_NUMBERS})

    broken = wait_for_result(spool, "broken")
    assert broken["state"] == "failed"
    error = broken["error"]
    assert error["file"] == "jobs/broken.yaml"
    assert isinstance(error.get("line"), int) and 2 <= error["line"] <= 4, error
    assert error.get("fix"), error
    assert f"line {error['line']}" in error["message"] and "Fix:" in error["message"]

    misspelt = wait_for_result(spool, "misspelt")
    assert misspelt["state"] == "failed"
    assert misspelt["error"]["line"] == 4, misspelt["error"]
    assert "chunksize" in misspelt["error"]["message"]  # "did you mean 'chunksize'?"

    assert result_primes(spool, wait_for_result(spool, "good1")) == [2, 3, 5]
    assert result_primes(spool, wait_for_result(spool, "good2")) == sieve(1000)
    assert result_primes(spool, wait_for_result(spool, "good3")) == BOOK_PRIMES
    assert daemon.alive(), daemon.log()
    assert daemon.stop() == 0


def test_two_jobs_with_different_pool_settings_at_once(spool, start_daemon):
    daemon = start_daemon()
    wait_ready(daemon)
    spawned = {"processes": 1, "chunksize": 5_000, "maxtasksperchild": 2,
               "start_method": "spawn", "ordered": True}
    forked = {"processes": 1, "chunksize": 5_000, "start_method": "forkserver", "ordered": True}
    drop_job(spool, "spawned.yaml", {"id": "spawned", "range": {"start": 0, "stop": 50_000},
                                     "pool": spawned})
    drop_job(spool, "forked.yaml", {"id": "forked", "range": {"start": 50_000, "stop": 100_000},
                                    "pool": forked})
    a = wait_for_result(spool, "spawned", timeout=60)
    b = wait_for_result(spool, "forked", timeout=60)
    assert a["state"] == b["state"] == "done", (a, b)
    assert result_primes(spool, a) == primes_in(0, 50_000)
    assert result_primes(spool, b) == primes_in(50_000, 100_000)
    assert a["settings"]["start_method"] == "spawn" and a["settings"]["maxtasksperchild"] == 2
    assert a["settings"]["processes"] == 1
    assert b["settings"]["start_method"] == "forkserver" and b["settings"]["maxtasksperchild"] is None
    assert a["chunks"]["retried"] == 0 and b["chunks"]["retried"] == 0
    # workers retiring after maxtasksperchild chunks are not deaths: no pool recycling
    assert "recycling" not in daemon.log(), daemon.log()
    assert daemon.stop() == 0


def test_sigkilled_daemon_resumes_the_job_exactly(spool, start_daemon):
    job = slow_job("crash")
    expected = list(big_reference(SLOW_START, SLOW_START + SLOW_COUNT))
    first = start_daemon()
    drop_job(spool, "crash.yaml", job)
    wait_until(lambda: chunks_recorded(spool, "crash") >= 2, 30, "two chunks recorded")
    first.kill()  # SIGKILL to its whole process group, workers included
    assert read_result(spool, "crash") is None, "the job finished before the kill; make it longer"
    assert state_dir(spool, "running", "crash").is_dir()

    second = start_daemon()
    result = wait_for_result(spool, "crash", timeout=60)
    assert result["state"] == "done", (result, second.log())
    assert result_primes(spool, result) == expected
    assert result["numbers_tested"] == SLOW_COUNT
    assert result["primes_found"] == len(expected)
    assert result["chunks"]["done"] == SLOW_COUNT // SLOW_CHUNK
    assert result["chunks"]["rerun_after_restart"] >= 1, result
    assert outbox_names(spool) - {"crash.yaml", "crash.primes"} == set()
    assert "crash.yaml" in outbox_names(spool)
    assert second.stop() == 0


def test_sigterm_during_a_job_exits_0_and_next_start_finishes_it(spool, start_daemon):
    job = slow_job("term")
    expected = list(big_reference(SLOW_START, SLOW_START + SLOW_COUNT))
    first = start_daemon()
    drop_job(spool, "term.yaml", job)
    wait_until(lambda: chunks_recorded(spool, "term") >= 2, 30, "two chunks recorded")
    began = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    code = first.process.wait(10)  # raises TimeoutExpired past 10 s
    took = time.monotonic() - began
    log = first.log()
    assert code == 0, log
    assert took < 10, log
    # it stopped its pools: no worker, forkserver or tracker of its group is left running
    wait_until(lambda: not live_group_members(first.pid), 5,
               f"the daemon's processes to exit (left: {live_group_members(first.pid)})")
    assert read_result(spool, "term") is None, "the job finished before SIGTERM; make it longer"
    assert state_dir(spool, "running", "term").is_dir()
    first.kill()

    second = start_daemon()
    result = wait_for_result(spool, "term", timeout=60)
    assert result["state"] == "done", (result, second.log())
    assert result_primes(spool, result) == expected
    assert result["numbers_tested"] == SLOW_COUNT
    assert result["chunks"]["done"] == SLOW_COUNT // SLOW_CHUNK
    assert outbox_names(spool) - {"term.yaml", "term.primes"} == set()
    assert second.stop() == 0


def test_two_daemons_on_one_spool_run_each_job_once(spool, start_daemon):
    daemons = [start_daemon(), start_daemon()]
    for daemon in daemons:
        wait_ready(daemon)
    ids = [f"d{i:02d}" for i in range(12)]
    for i, job_id in enumerate(ids):
        drop_job(spool, f"{job_id}.yaml", {"id": job_id,
                                           "range": {"start": i * 20_000, "stop": (i + 1) * 20_000},
                                           "pool": {"processes": 1, "chunksize": 2_500}})
    results = {job_id: wait_for_result(spool, job_id, timeout=60) for job_id in ids}
    # let any straggler (a second run of a job) show up before counting
    time.sleep(0.5)
    for i, job_id in enumerate(ids):
        result = results[job_id]
        assert result["state"] == "done", result
        assert result["id"] == job_id
        assert result_primes(spool, result) == primes_in(i * 20_000, (i + 1) * 20_000), job_id
    assert {n for n in outbox_names(spool) if n.endswith(".yaml")} == {f"{j}.yaml" for j in ids}
    logs = "".join(daemon.log() for daemon in daemons)
    for job_id in ids:
        assert logs.count(f"job {job_id} started") == 1, logs
    assert not list(spool.jobs.glob("*.yaml")), "jobs left queued"
    for daemon in daemons:
        assert daemon.alive(), daemon.log()
        assert daemon.stop() == 0


def test_checkpoint_without_its_spec_is_not_resumed(spool, start_daemon):
    """A job whose spec.json was lost (it is not fsynced: a power cut) is validated again,
    maybe into other chunks (here config.yaml changed its default chunksize meanwhile):
    its old journal must not be read against them. It runs again from the start, exactly."""
    write_config(spool.root, defaults={"chunksize": SLOW_CHUNK})
    job = slow_job("lost")
    del job["pool"]["chunksize"]  # the default from config.yaml, which changes below
    expected = list(big_reference(SLOW_START, SLOW_START + SLOW_COUNT))
    first = start_daemon()
    drop_job(spool, "lost.yaml", job)
    wait_until(lambda: chunks_recorded(spool, "lost") >= 2, 30, "two chunks recorded")
    first.kill()
    assert read_result(spool, "lost") is None, "the job finished before the kill; make it longer"
    (state_dir(spool, "running", "lost") / "spec.json").unlink()
    write_config(spool.root, defaults={"chunksize": SLOW_CHUNK - 100})

    second = start_daemon()
    result = wait_for_result(spool, "lost", timeout=60)
    assert result["state"] == "done", (result, second.log())
    assert result_primes(spool, result) == expected
    assert result["settings"]["chunksize"] == SLOW_CHUNK - 100
    assert result["numbers_tested"] == SLOW_COUNT  # not 2 old chunks of 600 + 27 new of 500
    assert result["chunks"]["done"] == -(-SLOW_COUNT // (SLOW_CHUNK - 100))
    assert second.stop() == 0


def test_surviving_daemon_takes_over_the_job_of_a_killed_one(spool, start_daemon):
    job = slow_job("orphan")
    expected = list(big_reference(SLOW_START, SLOW_START + SLOW_COUNT))
    daemons = [start_daemon(), start_daemon()]
    for daemon in daemons:
        wait_ready(daemon)
    drop_job(spool, "orphan.yaml", job)
    wait_until(lambda: chunks_recorded(spool, "orphan") >= 2, 30, "two chunks recorded")
    owner = wait_until(lambda: next((d for d in daemons if "job orphan started" in d.log()), None),
                       5, "the daemon running the job")
    survivor = next(d for d in daemons if d is not owner)
    owner.kill()
    assert read_result(spool, "orphan") is None, "the job finished before the kill; make it longer"

    # no restart: the other daemon adopts it at a rescan (README: "any daemon adopts it")
    result = wait_for_result(spool, "orphan", timeout=60)
    assert result["state"] == "done", (result, survivor.log())
    assert result_primes(spool, result) == expected
    assert result["numbers_tested"] == SLOW_COUNT
    assert result["chunks"]["done"] == SLOW_COUNT // SLOW_CHUNK
    assert result["chunks"]["rerun_after_restart"] >= 1, result
    assert outbox_names(spool) - {"orphan.yaml", "orphan.primes"} == set()
    assert survivor.alive(), survivor.log()
    assert survivor.stop() == 0


def test_chunksize_counts_numbers_not_lines(spool, start_daemon):
    """A numbers file with comments and blank lines between its numbers, chunksize 7: the
    daemon cuts 70 numbers into 10 chunks of 7 (its 108 lines, 7 a chunk, would make 16), and
    counts 70 numbers in all."""
    lines = ["# seventy numbers, with notes", ""]
    for n in range(1000, 1070):
        lines.append(f"{n}  # n" if n % 3 else str(n))
        if n % 4 == 0:
            lines += ["", "   # a note of its own"]
    (spool.root / "notes.txt").write_text("\n".join(lines) + "\n")
    daemon = start_daemon()
    drop_job(spool, "notes.yaml", {"id": "notes", "numbers_file": "notes.txt",
                                   "pool": {"chunksize": 7}})
    result = wait_for_result(spool, "notes")
    assert result["state"] == "done", result
    assert (result["numbers_tested"], result["chunks"]["done"]) == (70, 10), result
    assert result_primes(spool, result) == primes_in(1000, 1070)
    assert daemon.stop() == 0
