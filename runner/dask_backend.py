"""The Dask backend: jobs' chunks run on a Dask distributed cluster (`backend: dask`).

The backend keeps its chunks in flight, from the daemon's one thread; its link
(dask_link.py) keeps the connection to the scheduler in a thread of its own, so
the daemon's loop never waits on the scheduler. While there is no connection
`acquire` says no, so new jobs wait, not fail.

Faults. Dask re-runs a chunk whose worker died (the worker's nanny starts a new
one); a chunk whose workers died `allowed-failures` + 1 times ends in
KilledWorker, reported as a WorkerLost that used that many tries. A chunk past
its job's timeout has its worker restarted (the only way to stop a running Dask
task) and fails. A job's cancel cancels its futures; chunks already running are
abandoned: they end on their worker and their results are dropped.
"""

from __future__ import annotations

import itertools
import time
from typing import Optional

from . import events
from .backend import Backend, ChunkOwner, Emit, Post, Submission, WorkerLost
from .chunks import Chunk
from .config import Config
from .dask_link import CLUSTER_POOL_ID, DaskLink
from .spec import PoolSettings


class DaskBackend(Backend):
    """Chunks on the cluster whose scheduler config.yaml's `dask.scheduler` names."""

    def __init__(self, config: Config, post: Post, emit: Emit):
        self._address = config.dask.scheduler
        self._post, self._emit = post, emit
        self._inflight: dict[int, Submission] = {}  # the daemon thread's; read by the link
        self._tokens = itertools.count(1)
        self._link = DaskLink(self._address, config.dask.connect_timeout, self._inflight,
                              post, emit)

    def acquire(self, settings: PoolSettings) -> bool:
        """Yes while the scheduler is connected: the cluster shares its workers between
        jobs itself. No while it is not, so the job waits."""
        return self._link.connected

    def unavailable(self) -> Optional[str]:
        if self._link.connected:
            return None
        return (f"not connected to the Dask scheduler at {self._address} (the events log "
                "says why); the job waits for it")

    def applied(self, chunks_in_flight: int) -> dict:
        """As last seen: `processes`, the most of the cluster's worker threads that can run
        the job's chunks at once (all of them, but no more than the chunks it keeps in
        flight), the cluster's `workers`, their `threads` and its `scheduler`."""
        cluster = self._link.cluster
        return {"processes": min(cluster["threads"], chunks_in_flight)} | cluster

    def release(self, settings: PoolSettings) -> None:
        """Nothing to give back: no pool is held for a job."""

    def submit(self, settings: PoolSettings, owner: ChunkOwner, chunk: Chunk, attempt: int,
               timeout: float, spill_folder: Optional[str] = None) -> None:
        """Outputs come back as bytes: a cluster's workers need not see the spool."""
        token = next(self._tokens)
        self._inflight[token] = Submission(owner, chunk, attempt, self._address, timeout)
        self._link.submit(token)

    def take(self, token: int) -> Optional[Submission]:
        self._link.forget(token)
        return self._inflight.pop(token, None)

    def worker_lost(self, event: WorkerLost) -> list[tuple[Submission, str]]:
        cause = self._link.lost(event.holding)
        submission = self._inflight.pop(event.holding, None)
        return [] if submission is None or cause is None else [(submission, cause)]

    def abort_owner(self, owner: ChunkOwner) -> None:
        dropped = [token for token, s in self._inflight.items() if s.owner is owner]
        for token in dropped:
            del self._inflight[token]
        if dropped:
            self._link.cancel(dropped)

    def tick(self) -> None:
        """Fail chunks past their timeout (their workers restarted) and tell of chunks
        the cluster ran again."""
        now = time.monotonic()
        started, reruns = self._link.starts()
        for token, worker in reruns:
            submission = self._inflight.get(token)
            if submission is not None:
                self._emit(events.CHUNK_RERUN, submission.owner.job.id,
                           chunk=submission.chunk.index, worker=worker,
                           cause="its first worker was lost; Dask ran it again")
        for token, start in started:
            submission = self._inflight.get(token)
            if submission is None or submission.timed_out or now - start.since <= submission.timeout:
                continue
            submission.timed_out = True
            self._link.stop(token, start.worker,
                            f"it ran past its timeout of {submission.timeout:g} s, "
                            f"so its worker ({start.worker}) was restarted")
            self._post(WorkerLost(CLUSTER_POOL_ID, start.pid, token, 0))

    def shutdown(self) -> None:
        """Close the connection; chunks running on the cluster are abandoned."""
        self._link.close()
