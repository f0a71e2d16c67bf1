"""Persistent `multiprocessing.Pool`s, shared by jobs with equal settings, and supervised.

A plain Pool loses a task silently when the worker running it dies: no callback,
no error_callback, a wait that never ends. So the runner never trusts that a
result will come. The data flow:

    daemon thread --apply_async(run_chunk)--> Pool inqueue --> worker
    worker --result--> Pool outqueue --callback--> ChunkFinished --> daemon queue
    worker <--start/go/tested/end--> own connection <--> Supervisor thread
    Supervisor: connection EOF --> WorkerLost(which chunk it held) --> daemon queue

Every worker has a connection of its own to the supervisor (supervisor.py), so
the supervisor knows which chunk each worker holds and learns of a death the
moment the connection closes. A worker lost while holding a chunk held none of
the pool's locks: the Pool replaces it and only that chunk is run again. A
worker lost at any other instant may have died holding the Pool's queue lock or
half-way through writing a result, which would wedge the Pool for good: that
pool is recycled (a new Pool takes over its chunks, the old one is killed).

Cancel and timeout stop a chunk by stopping its worker (worker.ABORT_SIGNAL,
then SIGKILL if it does not go); a chunk not yet started is skipped when a
worker asks to start it. All methods but the Supervisor's thread are called
from the daemon's one thread.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import multiprocessing.pool
import os
import signal
import threading
import time
from typing import Callable, Optional

from . import events, worker
from .backend import Backend, ChunkFinished, ChunkOwner, ChunkRaised, Submission, WorkerLost
from .chunk_progress import Counts
from .chunks import Chunk
from .config import Config
from .spec import PoolSettings
from .supervisor import Supervisor
from .task import TaskCall

log = logging.getLogger("runner.pools")

ABORT_ESCALATE_SECONDS = 0.5  # a worker told to stop that still computes then is SIGKILLed
# A chunk can start in the instant its job is cancelled; past this it is stopped too.
UNWANTED_GRACE_SECONDS = 0.2
POOL_STOP_SECONDS = 5.0
REAP_WAIT_SECONDS = 0.5


# -- one pool ----------------------------------------------------------------------


class _WorkerRecordingPool(multiprocessing.pool.Pool):
    """A Pool that keeps every worker it starts until `forget` is called, so that a dead
    worker's exit status can be read after the Pool has reaped it and let it go."""

    def __init__(self, *args, **kwargs):
        self.workers_started: list[multiprocessing.process.BaseProcess] = []
        super().__init__(*args, **kwargs)

    def Process(self, ctx, *args, **kwds):  # the Pool's hook for making a worker
        process = ctx.Process(*args, **kwds)
        self.workers_started.append(process)
        return process

    def _get_sentinels(self):
        # The stock Pool also wakes its worker-handler thread whenever the result pipe is
        # readable, so the thread spins (re-polling every worker) until the result thread
        # has read each result: about 18 turns a chunk, and 0.07 s of the parent's CPU per
        # 100 chunks against 0.02 s without (bench/pool_handler.py), taken from the workers
        # on 2 cores. A worker's exit (its own sentinel) and the cache running empty (the
        # change notifier) still wake it.
        return [self._change_notifier._reader]


class SupervisedPool:
    """One persistent `multiprocessing.Pool` with the given settings."""

    def __init__(self, pool_id: int, settings: PoolSettings, supervisor: Supervisor,
                 post: Callable[[object], None]):
        self.id, self.settings, self._post = pool_id, settings, post
        self.users = 0
        self.idle_since = time.monotonic()
        self._pool = _WorkerRecordingPool(
            settings.processes,
            initializer=worker.initialize,
            initargs=(*supervisor.worker_args, pool_id),
            maxtasksperchild=settings.maxtasksperchild,
            context=multiprocessing.get_context(settings.start_method),
        )

    def submit(self, token: int, task: TaskCall, payload, spill_folder: Optional[str]) -> None:
        """Queue one chunk; its outcome comes back as ChunkFinished or ChunkRaised."""
        self._pool.apply_async(
            worker.run_chunk, (token, task, payload, spill_folder),
            callback=lambda result: self._post(ChunkFinished(token, result)),
            error_callback=lambda error: self._post(ChunkRaised(token, error)),
        )

    def forget(self, pid: int, wait: bool) -> Optional[int]:
        """Drop dead worker `pid` from the record; with `wait`, return its exit code
        (negative: the signal that killed it; None if unknown). Two threads reaping one
        forkserver worker would race for its status, so this waits for the Pool's own
        reaper, which looks every 0.1 s, rather than reaping it here."""
        process = next((p for p in self._pool.workers_started if p.pid == pid), None)
        if process is None:
            return None
        self._pool.workers_started.remove(process)
        if not wait:
            return None
        deadline = time.monotonic() + REAP_WAIT_SECONDS
        while process in self._pool._pool and time.monotonic() < deadline:
            time.sleep(0.01)
        return process.exitcode

    def stop(self, wedged: bool = False) -> None:
        """Stop every worker. `Pool.terminate` tells idle workers to exit, which needs the
        task queue's lock; if a worker died holding it (`wedged`), terminate would hang,
        so the workers are killed and terminate is left to finish in the background."""
        processes = list(self._pool._pool)
        if wedged:
            for process in processes:
                process.kill()
        stopper = threading.Thread(target=self._pool.terminate, name="pool-terminate", daemon=True)
        stopper.start()
        stopper.join(0 if wedged else POOL_STOP_SECONDS)
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(0.5)


# -- all pools ---------------------------------------------------------------------


def describe_exit(code: Optional[int]) -> str:
    """'killed by signal 9 (SIGKILL)', 'exit code 3' or 'exit status unknown'."""
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class PoolManager(Backend):
    """The local backend: every pool of one daemon, the process cap across them, and the
    chunks in flight."""

    def __init__(self, config: Config, post: Callable[[object], None], emit: Callable[..., None]):
        self._config, self._post, self._emit = config, post, emit
        self._pools: dict[PoolSettings, SupervisedPool] = {}
        self._inflight: dict[int, Submission] = {}
        self._stopping: dict[int, float] = {}  # token -> when its worker was told to stop
        self._tokens = itertools.count(1)
        self._pool_ids = itertools.count(1)
        self.supervisor = Supervisor(post, wanted=lambda token: token in self._inflight)

    # pools

    def acquire(self, settings: PoolSettings) -> bool:
        """Reserve a pool with `settings`, shared if one exists; False while the process cap
        is full (the caller tries again later)."""
        pool = self._pools.get(settings)
        if pool is None:
            while self._processes_in_use() + settings.processes > self._config.total_processes:
                idle = [p for p in self._pools.values() if p.users == 0]
                if not idle:
                    return False
                self._close(min(idle, key=lambda p: p.idle_since), "room for another pool")
            pool = SupervisedPool(next(self._pool_ids), settings, self.supervisor, self._post)
            self._pools[settings] = pool
            log.info("pool %d started: %s", pool.id, settings)
            self._emit_pool(events.POOL_STARTED, pool)
        pool.users += 1
        return True

    def release(self, settings: PoolSettings) -> None:
        """A job is done with its pool; the pool stays warm for the next until idle too long."""
        pool = self._pools[settings]
        pool.users -= 1
        if pool.users == 0:
            pool.idle_since = time.monotonic()

    def _processes_in_use(self) -> int:
        return sum(p.settings.processes for p in self._pools.values())

    def _close(self, pool: SupervisedPool, reason: str) -> None:
        del self._pools[pool.settings]
        pool.stop()
        log.info("pool %d stopped: %s", pool.id, reason)
        self._emit(events.POOL_STOPPED, pool=pool.id, reason=reason)

    def _emit_pool(self, event: str, pool: SupervisedPool, **details) -> None:
        settings = pool.settings
        self._emit(event, pool=pool.id, processes=settings.processes,
                   start_method=settings.start_method,
                   maxtasksperchild=settings.maxtasksperchild, **details)

    # chunks

    def submit(self, settings: PoolSettings, owner: ChunkOwner, chunk: Chunk, attempt: int,
               timeout: float, spill_folder: Optional[str] = None) -> None:
        """Hand `chunk` to the (acquired) pool with `settings`; its outcome reaches `owner`
        through the daemon as the Submission that `take` or `worker_lost` returns. A big
        output may come back as a checkpoint.SpilledOutput in `spill_folder`."""
        pool = self._pools[settings]
        token = next(self._tokens)
        self._inflight[token] = Submission(owner, chunk, attempt, pool, timeout, spill_folder)
        job = owner.job
        pool.submit(token, job.task_call(), chunk.payload, spill_folder)

    def take(self, token: int) -> Optional[Submission]:
        """The submission a result belongs to, or None if it is no longer wanted."""
        self._stopping.pop(token, None)
        self.supervisor.forget_tested(token)
        return self._inflight.pop(token, None)

    def tested_so_far(self, owner: ChunkOwner) -> Counts:
        """The counts so far of `owner`'s chunks in flight, as their workers last said."""
        return sum((counts for token, counts in self.supervisor.tested_so_far().items()
                    if token in self._inflight and self._inflight[token].owner is owner), Counts())

    def abort_owner(self, owner: ChunkOwner) -> None:
        """Drop every chunk of `owner`: a worker computing one is stopped, the others
        are skipped when a worker asks to start them."""
        dropped = {t for t, s in self._inflight.items() if s.owner is owner}
        for token in dropped:
            del self._inflight[token]
        for token, pid, _ in self.supervisor.holders():
            if token in dropped:
                self._stop(token, pid)

    def _stop(self, token: int, pid: int) -> None:
        self._stopping[token] = time.monotonic()
        _signal(pid, worker.ABORT_SIGNAL)

    def worker_lost(self, event: WorkerLost) -> list[tuple[Submission, str]]:
        """Account for a dead worker. Returns the chunk it took down with the cause (its
        owner decides whether to retry); a pool that may be wedged is recycled."""
        pool = next((p for p in self._pools.values() if p.id == event.pool_id), None)
        if event.holding is not None:  # it died computing: it held no lock of the Pool
            self._stopping.pop(event.holding, None)
            submission = self._inflight.pop(event.holding, None)
            wanted = submission is not None and not submission.timed_out
            code = pool.forget(event.pid, wait=wanted) if pool is not None else None
            if submission is None:  # its chunk's job ended; the runner stopped it
                self._emit(events.WORKER_STOPPED, pool=event.pool_id, pid=event.pid)
                return []
            if submission.timed_out:
                return [(submission, f"it ran past its timeout of {submission.timeout:g} s, "
                                     "so its worker was stopped")]
            return [(submission, f"its worker (pid {event.pid}) died: {describe_exit(code)}")]
        if pool is None:
            return []
        if event.chunks_ended == pool.settings.maxtasksperchild:
            pool.forget(event.pid, wait=False)  # retired after its last chunk, as asked
            self._emit(events.WORKER_RETIRED, pool=pool.id, pid=event.pid)
            return []
        cause = (f"worker {event.pid} died between chunks "
                 f"({describe_exit(pool.forget(event.pid, wait=True))})")
        log.warning("pool %d: %s; recycling the pool", pool.id, cause)
        self._emit(events.WORKER_LOST, pool=pool.id, pid=event.pid, cause=cause)
        self._recycle(pool, cause)
        return []

    def _recycle(self, old: SupervisedPool, cause: str) -> None:
        new = SupervisedPool(next(self._pool_ids), old.settings, self.supervisor, self._post)
        self._emit_pool(events.POOL_RECYCLED, new, replaced=old.id, cause=cause)
        new.users = old.users
        self._pools[old.settings] = new
        for token, submission in list(self._inflight.items()):
            if submission.pool is old:
                del self._inflight[token]
                self.submit(new.settings, submission.owner, submission.chunk, submission.attempt,
                            submission.timeout, submission.spill_folder)
        old.stop(wedged=True)

    def unavailable(self) -> Optional[str]:
        """None: local pools need nothing that could be away."""
        return None

    def tick(self) -> None:
        """Enforce chunk timeouts, stop chunks nobody wants, SIGKILL workers that ignored
        a stop, and close pools left idle too long."""
        now = time.monotonic()
        for token, pid, started in self.supervisor.holders():
            submission = self._inflight.get(token)
            if token in self._stopping:
                if now - self._stopping[token] > ABORT_ESCALATE_SECONDS:
                    _signal(pid, signal.SIGKILL)
            elif submission is None and now - started > UNWANTED_GRACE_SECONDS:
                self._stop(token, pid)
            elif submission is not None and now - started > submission.timeout:
                submission.timed_out = True
                self._stop(token, pid)
        for pool in list(self._pools.values()):
            if pool.users == 0 and now - pool.idle_since > self._config.pool_idle_seconds:
                self._close(pool, "idle")

    def shutdown(self) -> None:
        """Stop every pool and the supervisor."""
        for pool in list(self._pools.values()):
            self._close(pool, "the daemon is stopping")
        self.supervisor.close()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
