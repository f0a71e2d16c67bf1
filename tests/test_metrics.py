"""Prometheus metrics (runner/metrics.py), scraped over HTTP from a real daemon started
with `metrics_port` in its config.yaml, and checked against the jobs it ran."""

from __future__ import annotations

import socket

import pytest

from conftest import (BOOK_NUMBERS, BOOK_PRIMES, drop_job, free_port, run_cli, scrape_metrics,
                      state_dir, wait_for_log, wait_for_result, wait_ready, wait_until,
                      write_config)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def test_metrics_match_the_jobs_run(spool, start_daemon):
    port = free_port()
    write_config(spool.root, metrics_port=port, max_running_jobs=1)
    daemon = start_daemon()
    wait_ready(daemon)
    before = scrape_metrics(port)
    for state in ("queued", "running", "done", "failed", "cancelled"):
        assert before[f'runner_jobs{{state="{state}"}}'] == 0
    assert not any(name.startswith("runner_jobs_finished_total") for name in before), before
    assert before["runner_queue_depth"] == 0
    assert before["runner_chunk_seconds_count"] == 0

    # one chunk of ~6 s CPU holds the daemon's only job slot while three jobs wait
    drop_job(spool, "long.yaml", {"id": "long", "range": {"start": 2 ** 4000, "stop": 2 ** 4000 + 5000},
                                  "pool": {"processes": 1, "chunksize": 5000}})
    wait_until(lambda: state_dir(spool, "running", "long").exists(), 20, "long running")
    wait_until(daemon.busy_workers, 20, "long's chunk computing")  # so the cancel stops its worker
    drop_job(spool, "book.yaml", {"id": "book", "numbers": BOOK_NUMBERS, "pool": {"chunksize": 5}})
    drop_job(spool, "range.yaml", {"id": "range", "range": {"start": 0, "stop": 100_000},
                                   "pool": {"chunksize": 25_000}})
    drop_job(spool, "bad.yaml", "numbers: [1, 2]\nchunk_size: 5\n")
    waiting = scrape_metrics(port)
    assert waiting["runner_queue_depth"] == 3, waiting
    assert waiting['runner_jobs{state="queued"}'] == 3
    assert waiting['runner_jobs{state="running"}'] == 1

    assert run_cli(spool, "cancel", "long").returncode == 0
    book = wait_for_result(spool, "book")
    ranged = wait_for_result(spool, "range")
    assert wait_for_result(spool, "bad")["state"] == "failed"
    assert book["primes"] == BOOK_PRIMES and ranged["primes_found"] == 9592

    def once_the_stopped_worker_is_counted():
        metrics = scrape_metrics(port)  # its death reaches the daemon a moment after the cancel
        return metrics if metrics['runner_worker_restarts_total{reason="stopped"}'] == 1 else None

    after = wait_until(once_the_stopped_worker_is_counted, 10, "the cancelled chunk's worker")
    assert after['runner_jobs{state="done"}'] == 2
    assert after['runner_jobs{state="failed"}'] == 1
    assert after['runner_jobs{state="cancelled"}'] == 1
    assert after['runner_jobs{state="running"}'] == 0 and after["runner_queue_depth"] == 0
    assert after['runner_jobs_finished_total{state="done",task="primes"}'] == 2
    assert after['runner_jobs_finished_total{state="failed",task=""}'] == 1  # before its task
    assert after['runner_jobs_finished_total{state="cancelled",task="primes"}'] == 1
    assert after['runner_chunks_done_total{task="primes"}'] == 4 + 4  # book: 5+5+5+2; range: 4 x 25,000
    assert after["runner_chunk_seconds_count"] == 8
    assert 0 < after["runner_chunk_seconds_sum"] < 60
    assert after['runner_numbers_tested_total{task="primes"}'] == 17 + 100_000
    assert after['runner_numbers_found_total{task="primes"}'] == len(BOOK_PRIMES) + 9592
    assert after["runner_workers_lost_total"] == 0 and after["runner_chunks_retried_total"] == 0
    assert after["runner_chunks_lost_total"] == 0 and after["runner_chunks_timed_out_total"] == 0
    assert daemon.stop() == 0


def test_a_port_in_use_leaves_metrics_off_and_jobs_running(spool, start_daemon):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(spool.root, metrics_port=port)
        daemon = start_daemon()
        wait_for_log(daemon, f"metrics are off: cannot listen on 127.0.0.1:{port}", 15)
        wait_ready(daemon)
        drop_job(spool, "j.yaml", {"numbers": [2, 3, 4]})
        assert wait_for_result(spool, "j")["primes"] == [2, 3]
    assert daemon.stop() == 0
