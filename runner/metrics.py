"""Prometheus metrics of one daemon, served at http://127.0.0.1:<metrics_port>/metrics.

The counters and the chunk latency histogram are fed by the daemon's events
(`Metrics.observe` subscribes to `spool.events`), so they count what this daemon
has done since it started. Jobs by state and the queue depth are read from the
spool at each scrape: the spool is the truth, and other processes change it.
Everything lives in a registry of the daemon's own, not the library's global one.
"""

from __future__ import annotations

import logging
from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from . import events
from .job import JobState
from .listing import count_jobs
from .spool import Spool

log = logging.getLogger("runner.metrics")

METRICS_ADDRESS = "127.0.0.1"
CHUNK_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                         60, 300, 3600)
# Why a pool replaced a worker, by the event that says so.
_RESTART_REASONS = {events.WORKER_RETIRED: "maxtasksperchild", events.WORKER_LOST: "lost",
                    events.CHUNK_TIMED_OUT: "timeout", events.WORKER_STOPPED: "stopped"}
_FINISHED = {events.DONE: JobState.DONE, events.FAILED: JobState.FAILED,
             events.CANCELLED: JobState.CANCELLED}


class _SpoolCollector:
    """Jobs by state and the queue depth, counted in the spool when scraped."""

    def __init__(self, spool: Spool):
        self._spool = spool

    def collect(self):
        counts = count_jobs(self._spool)
        jobs = GaugeMetricFamily("runner_jobs", "Jobs in the spool, by state (read from the spool).",
                                 labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], counts[state])
        yield jobs
        yield GaugeMetricFamily("runner_queue_depth", "Jobs waiting in jobs/ to be claimed.",
                                value=counts[JobState.QUEUED])


class Metrics:
    """The daemon's metrics registry, and the events listener that keeps it current."""

    def __init__(self, spool: Spool):
        self.registry = CollectorRegistry()
        self.registry.register(_SpoolCollector(spool))

        def counter(name: str, documentation: str, labels: tuple = ()) -> Counter:
            return Counter(name, documentation, labels, registry=self.registry)

        self.jobs_finished = counter("runner_jobs_finished",
                                     "Jobs this daemon finished, by state and task.",
                                     ("state", "task"))
        self.chunks_done = counter("runner_chunks_done", "Chunks whose output is in, by task.",
                                   ("task",))
        self.chunks_retried = counter("runner_chunks_retried",
                                      "Chunks handed to a pool again after their worker died.")
        self.chunks_lost = counter("runner_chunks_lost", "Chunks whose worker died computing them.")
        self.chunks_timed_out = counter("runner_chunks_timed_out",
                                        "Chunks stopped for running past their job's timeout.")
        self.numbers_tested = counter("runner_numbers_tested", "Numbers tested, by task.",
                                      ("task",))
        self.numbers_found = counter(
            "runner_numbers_found", "Numbers that gave output (primes found, numbers kept, "
            "values), by task.", ("task",))
        self.workers_lost = counter("runner_workers_lost",
                                    "Workers that died unasked (killed, crashed).")
        self.worker_restarts = counter(
            "runner_worker_restarts", "Workers replaced, by why: maxtasksperchild, lost, "
            "timeout, stopped (their chunk no longer wanted).", ("reason",))
        self.pools_recycled = counter("runner_pools_recycled",
                                      "Pools replaced whole because they might be wedged.")
        self.chunk_seconds = Histogram(
            "runner_chunk_seconds", "Seconds from a chunk's submission to a pool to its result.",
            buckets=CHUNK_SECONDS_BUCKETS, registry=self.registry)
        for reason in _RESTART_REASONS.values():
            self.worker_restarts.labels(reason)

    def observe(self, record: dict) -> None:
        """Count one event (an `Events` listener)."""
        event = record["event"]
        if event == events.CHUNK_DONE:
            task = record["task"]
            self.chunks_done.labels(task).inc()
            self.numbers_tested.labels(task).inc(record["tested"])
            self.numbers_found.labels(task).inc(record["found"])
            self.chunk_seconds.observe(record["seconds"])
        elif event in _FINISHED:
            # a job file that failed before naming a task is counted under task ""
            self.jobs_finished.labels(_FINISHED[event].value, record.get("task", "")).inc()
        elif event == events.CHUNK_RETRIED:
            self.chunks_retried.inc()
        elif event == events.POOL_RECYCLED:
            self.pools_recycled.inc()
        elif event == events.WORKER_LOST:
            self.workers_lost.inc()
            if "chunk" in record:  # it died computing one
                self.chunks_lost.inc()
        elif event == events.CHUNK_TIMED_OUT:
            self.chunks_timed_out.inc()
        if event in _RESTART_REASONS:
            self.worker_restarts.labels(_RESTART_REASONS[event]).inc()


class MetricsServer:
    """Metrics of `spool`'s daemon served over HTTP until `close`."""

    def __init__(self, spool: Spool, port: int):
        self.metrics = Metrics(spool)
        self._server, self._thread = start_http_server(port, addr=METRICS_ADDRESS,
                                                       registry=self.metrics.registry)
        spool.events.subscribe(self.metrics.observe)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2)


def serve_metrics(spool: Spool, port: int) -> Optional[MetricsServer]:
    """Serve the metrics of `spool`'s daemon on 127.0.0.1:`port`, or log why not and
    return None (a port in use must not keep the daemon from running jobs)."""
    try:
        server = MetricsServer(spool, port)
    except OSError as error:
        log.error("metrics are off: cannot listen on %s:%d (%s)", METRICS_ADDRESS, port,
                  error.strerror or error)
        return None
    log.info("metrics at http://%s:%d/metrics", METRICS_ADDRESS, port)
    return server
