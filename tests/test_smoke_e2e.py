"""End-to-end smoke: the real daemon runs the sample-like jobs."""

import os
import time

import pytest

from conftest import (drop_job, read_result, result_primes, sieve, state_dir, wait_for_result,
                      wait_ready, wait_until, write_config, write_numbers)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def test_case_study_numbers_file_and_range(spool, start_daemon):
    daemon = start_daemon()
    write_numbers(spool.root / "thousand.numbers", range(1, 1001))
    drop_job(spool, "a.yaml", {"id": "cs", "numbers": [17977, 10619863, 106198]})
    drop_job(spool, "b.yaml", {"numbers_file": "thousand.numbers", "pool": {"chunksize": 100}})
    drop_job(spool, "c.yaml", {"range": {"start": 0, "stop": 100000}, "pool": {"ordered": False}})
    assert result_primes(spool, wait_for_result(spool, "cs")) == [17977, 10619863]
    assert wait_for_result(spool, "b")["primes_found"] == 168
    assert wait_for_result(spool, "c")["primes_found"] == 9592
    assert daemon.stop() == 0


def test_one_chunk_jobs_keep_no_checkpoint_files(spool, start_daemon):
    """A job of one chunk writes no journal or output file: its primes go straight to its
    result, inline, as a primes file written from memory, or as the worker's spill file."""
    daemon = start_daemon()
    jobs = {"inline": (0, 500), "text": (0, 10_000), "spilled": (0, 300_000)}
    for job_id, (start, stop) in jobs.items():
        drop_job(spool, f"{job_id}.yaml", {"range": {"start": start, "stop": stop},
                                           "pool": {"chunksize": stop}})
    for job_id, (start, stop) in jobs.items():
        result = wait_for_result(spool, job_id)
        assert result["state"] == "done" and result["chunks"]["done"] == 1, result
        assert result_primes(spool, result) == sieve(stop), job_id
        folder = state_dir(spool, "done", job_id)  # moved there just after its result's commit
        wait_until(folder.is_dir, 10, f"{job_id} archived in done/")
        assert sorted(p.name for p in folder.iterdir()) == ["job.yaml", "progress.json", "source",
                                                            "spec.json"], job_id
    assert "primes" in read_result(spool, "inline")
    assert read_result(spool, "text")["primes_file"] == "text.primes"
    assert read_result(spool, "spilled")["primes_file"] == "spilled.primes"
    assert daemon.stop() == 0


def test_jobs_are_seen_by_their_events_not_only_by_rescans(spool, start_daemon):
    """With rescans a minute apart, a job renamed into jobs/ from a hidden name, one
    renamed in from another folder and one written there in place all run at once: the
    watcher gets the moves in and the close-after-write."""
    write_config(spool.root, rescan_seconds=60)
    daemon = start_daemon()
    wait_ready(daemon)
    time.sleep(0.5)  # past the start-up scan
    drop_job(spool, "moved.yaml", {"numbers": [7, 8]})
    assert result_primes(spool, wait_for_result(spool, "moved", timeout=10)) == [7]
    (spool.root / "elsewhere.yaml").write_text("numbers: [5, 6]\n")
    os.rename(spool.root / "elsewhere.yaml", spool.jobs / "elsewhere.yaml")
    assert result_primes(spool, wait_for_result(spool, "elsewhere", timeout=10)) == [5]
    with open(spool.jobs / "written.yaml", "w") as handle:
        handle.write("numbers: [11, 12]\n")
    assert result_primes(spool, wait_for_result(spool, "written", timeout=10)) == [11]
    assert daemon.stop() == 0


def test_a_claim_holds_back_no_job_dropped_after_it(spool, start_daemon):
    """A job dropped right after another was claimed is claimed at once: the claim's move
    out of jobs/ holds back none of the watcher's events (watchdog's inotify backend held
    them 0.5 s behind it). The fastest of three tries, so that a busy machine does not
    fail it; with rescans a minute apart."""
    write_config(spool.root, rescan_seconds=60)
    daemon = start_daemon()
    wait_ready(daemon)
    time.sleep(0.5)  # past the start-up scan
    waits = []
    for n in range(3):
        first = drop_job(spool, f"first-{n}.yaml", {"numbers": [7]})
        wait_until(lambda: not first.exists(), 10, f"first-{n}.yaml claimed")
        dropped = time.monotonic()
        after = drop_job(spool, f"after-{n}.yaml", {"numbers": [7]})
        wait_until(lambda: not after.exists(), 10, f"after-{n}.yaml claimed")
        waits.append(time.monotonic() - dropped)
        wait_for_result(spool, f"after-{n}", timeout=10)
    assert min(waits) < 0.25, waits
    assert daemon.stop() == 0
