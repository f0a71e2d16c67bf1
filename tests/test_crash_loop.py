"""The crash loop: SIGKILL the daemon at random instants over a mix of jobs, many times;
after a last clean start, every job has exactly one complete, correct result.

    RUNNER_CRASH_KILLS=200 python -m pytest tests/test_crash_loop.py -s

runs a longer loop and prints its figures (the README quotes them).
"""

from __future__ import annotations

import os
import random
import time

import pytest
import yaml

from conftest import drop_job, reference_primes, result_primes, write_config, write_numbers

KILLS = int(os.environ.get("RUNNER_CRASH_KILLS", "12"))
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120 + 3 * KILLS)]


def _make_jobs(spool, rng: random.Random, count: int, first: int) -> dict[str, tuple]:
    """Drop `count` jobs of every kind; returns each id's expected primes and whether
    they must come in input order."""
    expected = {}
    for k in range(first, first + count):
        job_id = f"j{k}"
        kind = k % 3
        ordered = rng.random() < 0.5
        pool = {"chunksize": rng.choice([1000, 5000, 20000]), "ordered": ordered,
                "processes": rng.choice([1, 2])}
        if kind == 0:
            pool["chunksize"] = rng.choice([1000, 20000, 200_000])  # 200,000: outputs spilled
            start = rng.randrange(0, 10**15)
            numbers = range(start, start + rng.randrange(100_000, 400_000))
            drop_job(spool, f"{job_id}.yaml", {"id": job_id, "pool": pool,
                                               "range": {"start": numbers.start, "stop": numbers.stop}})
        elif kind == 1:
            numbers = [rng.getrandbits(rng.choice([32, 64, 80])) for _ in range(rng.randrange(20_000, 80_000))]
            path = write_numbers(spool.root / f"{job_id}.numbers", numbers)
            drop_job(spool, f"{job_id}.yaml", {"id": job_id, "pool": pool,
                                               "numbers_file": path.name})
        else:
            numbers = [rng.getrandbits(64) for _ in range(rng.randrange(50, 400))]
            drop_job(spool, f"{job_id}.yaml", {"id": job_id, "pool": {**pool, "chunksize": 7},
                                               "numbers": numbers})
        expected[job_id] = (reference_primes(numbers), ordered)
    return expected


def test_daemon_killed_at_random_instants_loses_and_duplicates_nothing(spool, start_daemon):
    write_config(spool.root, rescan_seconds=0.1, fsync_seconds=0.05)
    rng = random.Random(int(os.environ.get("RUNNER_CRASH_SEED", "7")))
    expected = _make_jobs(spool, rng, 6, 0)
    kills = 0
    started = time.monotonic()
    while kills < KILLS:
        daemon = start_daemon()
        time.sleep(rng.uniform(0.3, 1.2))  # past start-up, at a random instant of the work
        daemon.kill()
        kills += 1
        if kills % 4 == 0:
            expected.update(_make_jobs(spool, rng, 2, len(expected)))
    final = start_daemon("--drain")
    assert final.process.wait(120) == 0, final.log()

    results = {p.stem: yaml.safe_load(p.read_text()) for p in spool.outbox.glob("*.yaml")}
    assert sorted(results) == sorted(expected), "a job is missing or has more than one result"
    reruns = 0
    for job_id, (primes, ordered) in expected.items():
        result = results[job_id]
        assert result["state"] == "done", result
        got = result_primes(spool, result)
        assert (got if ordered else sorted(got)) == (primes if ordered else sorted(primes)), job_id
        assert result["primes_found"] == len(primes)
        reruns += result["chunks"]["rerun_after_restart"]
    leftovers = [p.name for p in spool.outbox.iterdir()
                 if p.suffix not in (".yaml", ".primes") or p.stem not in expected]
    assert not leftovers, leftovers
    assert not list((spool.state / "running").iterdir())
    assert not list(spool.claiming.iterdir())
    print(f"\ncrash loop: {kills} SIGKILLs survived over {len(expected)} jobs in "
          f"{time.monotonic() - started:.0f} s; {reruns} chunks re-run after restarts "
          f"({reruns / kills:.1f} per kill); every result present once and exact")
