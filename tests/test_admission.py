"""The daemon's admission (runner/daemon.py, backlog.py, queued.py) in this process, on a
fake backend that runs nothing: which queued job it claims next (priority, then first
come), how many jobs it runs at once (max_running_jobs), a job that finds no free
processes waiting for them, and the files over limits.queued_jobs refused. A daemon
drains the spool and returns; each test takes a fraction of a second. Real daemons run
the same code in the end-to-end tests."""

from __future__ import annotations

import itertools
import os
import signal
import sys
from typing import Optional

import pytest
import yaml

from runner.backend import Backend, ChunkFinished, ChunkOwner, Submission, WorkerLost
from runner.checkpoint import ChunkResult
from runner.config import Config
from runner.daemon import Daemon
from runner.spec import PoolSettings
from runner.spool import Spool

from conftest import drop_job, read_result


class HoldingBackend(Backend):
    """Runs nothing: holds each chunk until the daemon's next tick, then ends it, having
    found nothing. Lends at most `pools` pools at once (None: any number), as a process
    cap that fits one job at a time would."""

    def __init__(self, post, pools: Optional[int] = None):
        self._post, self._pools = post, pools
        self._tokens = itertools.count(1)
        self._inflight: dict[int, Submission] = {}
        self._lent = 0
        self.first_chunks: list[str] = []  # job ids, in the order each sent its first chunk
        self.most_jobs_at_once = 0  # the most jobs with chunks held at one tick

    def acquire(self, settings: PoolSettings) -> bool:
        if self._pools is not None and self._lent >= self._pools:
            return False
        self._lent += 1
        return True

    def release(self, settings: PoolSettings) -> None:
        self._lent -= 1

    def submit(self, settings, owner, chunk, attempt, timeout, spill_folder=None) -> None:
        self._inflight[next(self._tokens)] = Submission(owner, chunk, attempt, None, timeout)
        if owner.job.id not in self.first_chunks:
            self.first_chunks.append(owner.job.id)

    def take(self, token: int) -> Optional[Submission]:
        return self._inflight.pop(token, None)

    def worker_lost(self, event: WorkerLost) -> list:
        return []

    def abort_owner(self, owner: ChunkOwner) -> None:
        self._inflight = {t: s for t, s in self._inflight.items() if s.owner is not owner}

    def unavailable(self) -> Optional[str]:
        return None

    def tick(self) -> None:
        jobs = {submission.owner.job.id for submission in self._inflight.values()}
        self.most_jobs_at_once = max(self.most_jobs_at_once, len(jobs))
        for token, submission in list(self._inflight.items()):
            tested = len(submission.chunk.payload.numbers)
            self._post(ChunkFinished(token, ChunkResult(tested, 0, b"")))

    def shutdown(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _daemon_leaves_the_process_as_it_was():
    """Daemon.run sets SIGTERM's and SIGINT's handlers and the switch interval for the
    process it runs in; put them back for the tests after."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    interval = sys.getswitchinterval()
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    sys.setswitchinterval(interval)


def queue(spool: Spool, *jobs: tuple[str, int, float]) -> None:
    """Drop a job (id, priority, when it was queued, as a Unix time) per tuple."""
    for job_id, priority, queued in jobs:
        path = drop_job(spool, f"{job_id}.yaml", {"id": job_id, "numbers": [2, 3, 4],
                                                  "priority": priority})
        os.utime(path, (queued, queued))


def drain(spool: Spool, pools: Optional[int] = None, **settings) -> HoldingBackend:
    """Run a daemon on `spool` until no job is left, on a HoldingBackend."""
    config = Config.model_validate({"max_processes": 1, "rescan_seconds": 0.01, **settings})
    opened: list[HoldingBackend] = []

    def open_backend(config, post, emit) -> HoldingBackend:
        opened.append(HoldingBackend(post, pools))
        return opened[0]

    assert Daemon(spool, config, drain=True, backend=open_backend).run() == 0
    return opened[0]


def states(spool: Spool, *job_ids: str) -> list[Optional[str]]:
    return [(read_result(spool, job_id) or {}).get("state") for job_id in job_ids]


def test_the_highest_priority_runs_first_then_the_first_queued(spool):
    queue(spool, ("a", 0, 2000), ("b", 5, 4000), ("c", 0, 1000), ("d", -1, 500), ("e", 5, 3000))
    backend = drain(spool, max_running_jobs=1)
    assert backend.first_chunks == ["e", "b", "c", "a", "d"]
    assert states(spool, "a", "b", "c", "d", "e") == ["done"] * 5


def test_equal_priority_and_time_run_in_the_order_of_their_names(spool):
    queue(spool, ("y", 0, 1000), ("x", 0, 1000), ("z", 0, 1000))
    assert drain(spool, max_running_jobs=1).first_chunks == ["x", "y", "z"]


def test_no_more_jobs_run_at_once_than_max_running_jobs(spool):
    queue(spool, *((f"j{n}", 0, 1000 + n) for n in range(5)))
    backend = drain(spool, max_running_jobs=2)
    assert backend.most_jobs_at_once == 2
    assert backend.first_chunks == [f"j{n}" for n in range(5)]
    assert states(spool, *(f"j{n}" for n in range(5))) == ["done"] * 5


def test_a_job_that_finds_no_free_processes_waits_for_them_in_its_turn(spool):
    queue(spool, ("low", -1, 1000), ("high", 9, 3000), ("mid", 0, 2000))
    backend = drain(spool, pools=1, max_running_jobs=3)
    assert backend.most_jobs_at_once == 1  # claimed all three, but one pool for one job
    assert backend.first_chunks == ["high", "mid", "low"]
    assert states(spool, "low", "high", "mid") == ["done"] * 3


def test_the_files_over_the_queue_limit_fail_and_the_first_in_run_order_run(spool):
    queue(spool, ("old", 0, 1000), ("urgent", 3, 4000), ("new", 0, 3000), ("mid", 0, 2000))
    backend = drain(spool, max_running_jobs=1, limits={"queued_jobs": 2})
    assert backend.first_chunks == ["urgent", "old"]
    assert states(spool, "urgent", "old", "mid", "new") == ["done", "done", "failed", "failed"]
    error = read_result(spool, "new")["error"]["message"]
    assert "jobs/ holds 4 jobs, over the limit limits.queued_jobs = 2" in error
    assert yaml.safe_load((spool.jobs / ".state" / "failed" / "mid" / "job.yaml").read_text())[
        "id"] == "mid"
