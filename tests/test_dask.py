"""The Dask backend end to end: a real daemon (`runner start`, backend: dask) on one real
LocalCluster shared by the module (two single-threaded worker processes with nannies),
with results checked against independent references. Workers are killed through the
cluster's own chunk-start events (dask_helpers.ChunkStarts)."""

from __future__ import annotations

import random
import time

import pytest

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

from conftest import (BOOK_NUMBERS, BOOK_PRIMES, big_reference, chunks_recorded, drop_job,  # noqa: E402
                      read_result, reference_primes, result_primes, run_cli, sieve,
                      wait_for_result, wait_ready, wait_until, write_numbers)
from dask_helpers import ChunkStarts, write_dask_config  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

WORKERS = 2
# one chunk of 2000-bit numbers takes about 0.1 s
BIG, SMALL_CHUNK = 2 ** 2000, 600


@pytest.fixture(scope="module")
def cluster():
    # a chunk whose worker dies twice is given up on: KilledWorker after 2 deaths; and a
    # worker holds only the chunk it computes, so a death blames no queued chunk
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                      dashboard_address=None, scheduler_port=0) as local:
            with distributed.Client(local) as client:
                yield local, client, ChunkStarts(client)


@pytest.fixture
def dask_spool(spool, cluster):
    local, client, starts = cluster
    client.wait_for_workers(WORKERS, timeout=60)  # a test before may have restarted one
    starts.reset()
    write_dask_config(spool.root, local.scheduler_address)
    return spool


def events_of(spool, name: str) -> list[dict]:
    return [e for e in spool.events.log.read() if e["event"] == name]


@pytest.mark.parametrize("chunks_ahead, processes", [(2, WORKERS), (1, 1)],
                         ids=["every-thread", "fewer-chunks-in-flight-than-threads"])
def test_a_result_reports_the_clusters_workers_not_the_local_cap(dask_spool, cluster,
                                                                start_daemon, chunks_ahead,
                                                                processes):
    """max_processes 1 keeps 1 x chunks_ahead chunks on the 2 threads of the cluster: as many
    of its threads run them at once, which the result and the started event say as
    `processes`, beside the cluster's workers, threads and scheduler."""
    local = cluster[0]
    write_dask_config(dask_spool.root, local.scheduler_address, max_processes=1,
                      chunks_ahead_per_process=chunks_ahead)
    daemon = start_daemon()
    drop_job(dask_spool, "book.yaml", {"id": "book", "numbers": BOOK_NUMBERS})
    book = wait_for_result(dask_spool, "book", timeout=30)
    assert book["state"] == "done", (book, daemon.log())
    settings = book["settings"]
    assert list(settings) == ["processes", "chunksize", "maxtasksperchild", "start_method",
                              "ordered", "timeout", "workers", "threads", "scheduler"], settings
    assert settings | {"chunksize": None, "timeout": None} == {
        "processes": processes, "chunksize": None, "maxtasksperchild": None,
        "start_method": "dask worker", "ordered": True, "timeout": None, "workers": WORKERS,
        "threads": WORKERS, "scheduler": local.scheduler_address}, settings
    started = events_of(dask_spool, "started")
    assert {key: started[0][key] for key in settings} == settings, started


def test_inline_file_and_range_jobs_give_the_reference_primes(dask_spool, start_daemon):
    spool = dask_spool
    numbers = [random.Random(7).getrandbits(64) | 1 for _ in range(20_000)]
    write_numbers(spool.root / "big.numbers", numbers)
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "book.yaml", {"id": "book", "numbers": BOOK_NUMBERS,
                                  "pool": {"chunksize": 5, "start_method": "spawn",
                                           "maxtasksperchild": 3}})
    drop_job(spool, "file.yaml", {"id": "file", "numbers_file": "big.numbers",
                                  "pool": {"chunksize": 1500}})
    drop_job(spool, "range.yaml", {"id": "range", "range": {"start": 0, "stop": 300_000},
                                   "pool": {"chunksize": 40_000, "ordered": False}})
    (spool.root / "bad.numbers").write_text("7\n11\n" * 500 + "12a\n")
    drop_job(spool, "bad.yaml", {"id": "bad", "numbers_file": "bad.numbers",
                                 "pool": {"chunksize": 100}})

    book = wait_for_result(spool, "book", timeout=30)
    assert book["state"] == "done", (book, daemon.log())
    assert result_primes(spool, book) == BOOK_PRIMES
    # a local pool's settings are accepted, and the result says what ran the job instead
    assert book["settings"]["start_method"] == "dask worker", book["settings"]
    assert book["settings"]["maxtasksperchild"] is None, book["settings"]

    file = wait_for_result(spool, "file", timeout=30)
    assert file["state"] == "done", (file, daemon.log())
    assert result_primes(spool, file) == reference_primes(numbers)
    assert file["chunks"]["done"] == 14
    ranged = wait_for_result(spool, "range", timeout=30)
    assert ranged["state"] == "done", (ranged, daemon.log())
    assert sorted(result_primes(spool, ranged)) == sieve(300_000)
    # a bad line, found by a worker on the cluster, fails the job naming it
    bad = wait_for_result(spool, "bad", timeout=30)
    assert bad["state"] == "failed", (bad, daemon.log())
    assert bad["error"]["line"] == 1001 and "'12a'" in bad["error"]["message"], bad["error"]
    assert events_of(spool, "scheduler_connected"), daemon.log()
    assert daemon.stop() == 0


def test_cancel_drops_the_jobs_futures_within_seconds(dask_spool, start_daemon, cluster):
    spool, client = dask_spool, cluster[1]
    daemon = start_daemon()
    drop_job(spool, "long.yaml", {"id": "long", "range": {"start": BIG, "stop": BIG + 100 * SMALL_CHUNK},
                                  "pool": {"chunksize": SMALL_CHUNK}})
    wait_until(lambda: chunks_recorded(spool, "long") >= 1, 30, "a first chunk recorded")
    asked = time.monotonic()
    proc = run_cli(spool, "cancel", "long")
    assert proc.returncode == 0, proc.stderr
    assert read_result(spool, "long")["state"] == "cancelled"
    assert time.monotonic() - asked < 3

    def pending_on_cluster() -> int:
        return client.run_on_scheduler(lambda dask_scheduler: sum(
            1 for ts in dask_scheduler.tasks.values() if ts.state != "memory"))

    # the chunks not yet started are gone from the scheduler; the running ones end soon
    wait_until(lambda: pending_on_cluster() == 0, 5, "no chunk of the cancelled job on the cluster")
    assert daemon.stop() == 0


def test_chunk_past_its_timeout_fails_the_job_naming_the_chunk(dask_spool, start_daemon):
    spool = dask_spool
    start, count = 2 ** 4000, 1_500  # one chunk of about 2 s
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "slow.yaml", {"id": "slow", "range": {"start": start, "stop": start + count},
                                  "pool": {"chunksize": count}, "timeout": 0.5})
    result = wait_for_result(spool, "slow", timeout=30)
    assert result["state"] == "failed", (result, daemon.log())
    message = result["error"]["message"]
    assert "chunk 0" in message and "timeout of 0.5 s" in message, result["error"]
    assert "restarted" in message, result["error"]
    assert result["timings"]["seconds"] < 3, result["timings"]
    assert daemon.stop() == 0


def test_worker_killed_mid_chunk_the_cluster_reruns_it(dask_spool, start_daemon, cluster):
    spool, starts = dask_spool, cluster[2]
    count = 12 * SMALL_CHUNK
    starts.reset(kill={3})
    daemon = start_daemon()
    drop_job(spool, "victim.yaml", {"id": "victim", "range": {"start": BIG, "stop": BIG + count},
                                    "pool": {"chunksize": SMALL_CHUNK}})
    result = wait_for_result(spool, "victim", timeout=60)
    assert result["state"] == "done", (result, daemon.log())
    assert len(starts.killed) == 1, starts.starts
    assert result_primes(spool, result) == list(big_reference(BIG, BIG + count))
    assert result["chunks"]["done"] == 12
    # chunk 3 runs again; so may a chunk whose result was still held by the killed worker
    # when it died (the scheduler recomputes it), which a loaded machine makes likelier
    reruns = [e["chunk"] for e in events_of(spool, "chunk_rerun")]
    assert 3 in reruns and len(reruns) == len(set(reruns)), (reruns, daemon.log())
    assert {e["job"] for e in events_of(spool, "chunk_rerun")} == {"victim"}  # `runner logs victim`
    assert daemon.stop() == 0


def test_poison_chunk_fails_the_job_with_killed_worker(dask_spool, start_daemon, cluster):
    spool, starts = dask_spool, cluster[2]
    write_dask_config(spool.root, cluster[0].scheduler_address, max_chunk_attempts=2)
    starts.reset(kill={0}, once=False)
    daemon = start_daemon()
    drop_job(spool, "poison.yaml", {"id": "poison", "range": {"start": BIG, "stop": BIG + 4 * SMALL_CHUNK},
                                    "pool": {"chunksize": SMALL_CHUNK}})
    result = wait_for_result(spool, "poison", timeout=60)
    assert result["state"] == "failed", (result, daemon.log())
    error = result["error"]
    assert "chunk 0" in error["message"] and "KilledWorker" in error["message"], error
    assert "2 tries" in error["message"], error
    assert error["chunk"] == 0 and error["fix"], error
    assert len(starts.killed) == 2, starts.starts  # allowed-failures 1: two deaths
    assert daemon.stop() == 0


def test_daemon_sigkilled_mid_job_resumes_from_its_checkpoint(dask_spool, start_daemon):
    spool = dask_spool
    count = 40 * SMALL_CHUNK
    daemon = start_daemon()
    drop_job(spool, "resume.yaml", {"id": "resume", "range": {"start": BIG, "stop": BIG + count},
                                    "pool": {"chunksize": SMALL_CHUNK}})
    wait_until(lambda: chunks_recorded(spool, "resume") >= 4, 30, "some chunks recorded")
    daemon.kill()
    assert read_result(spool, "resume") is None, "the job finished before the kill"
    again = start_daemon()
    result = wait_for_result(spool, "resume", timeout=60)
    assert result["state"] == "done", (result, again.log())
    assert result_primes(spool, result) == list(big_reference(BIG, BIG + count))
    assert result["chunks"]["done"] == 40
    assert [e["event"] for e in spool.events.log.read(job="resume")].count("resumed") == 1
    assert again.stop() == 0
