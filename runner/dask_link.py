"""The Dask backend's link to its cluster: the one thread that owns the
`distributed.Client`, and the callbacks Dask's own threads make.

    daemon thread --submit/cancel/stop--> commands --> link thread --Client.submit--> scheduler
    worker, as it starts a chunk --log_event(START_TOPIC)--> scheduler --> started[token]
    a future done --Dask's callback thread--> ChunkFinished | ChunkRaised | WorkerLost --> daemon

The link connects with tries of `dask.connect_timeout` seconds, again every
RECONNECT_SECONDS for as long as it takes, so the daemon's loop never waits on the
scheduler. Chunks in flight when a connection is lost are submitted again once it is
back, without counting as a try (no worker failed them). What the backend
(dask_backend.py) asks of it, from the daemon's thread, goes through a queue of
commands; what it learns (a chunk started, a chunk's cause of loss) it keeps under a
lock for the backend to read.

Chunks travel as bytes: each payload is pickled, a numbers file's byte range read
in by the daemon first (chunks.read_lines). So workers share no filesystem with
the daemon, only the runner package installed; and Dask's serializer never walks
a large Python list (dask/distributed#6368).
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional

import distributed
from distributed.utils import LoopRunner

from . import events
from .backend import ChunkFinished, ChunkRaised, Emit, Post, Submission, WorkerLost
from .checkpoint import ChunkResult
from .chunks import FilePayload, read_lines
from .numbers import allow_long_integers
from .task import TaskUnavailable, compute

log = logging.getLogger("runner.dask")

START_TOPIC = "runner-chunk-started"
RECONNECT_SECONDS = 1.0
COMMAND_POLL_SECONDS = 0.1  # the link thread checks its connection at least this often
WORKERS_SEEN_EVERY_SECONDS = 2.0  # how often an idle link asks for the cluster's workers
CLOSE_SECONDS = 2.0
RESTART_SECONDS = 30.0
CLUSTER_POOL_ID = 0  # WorkerLost.pool_id: the cluster is the backend's one pool


# -- what the daemon's thread asks of the link thread ----------------------------------


@dataclass(frozen=True)
class _Submit:
    """Send chunk `token` to the cluster (again, if the connection was lost)."""

    token: int


@dataclass(frozen=True)
class _Cancel:
    """Cancel these chunks' futures."""

    tokens: list[int]


@dataclass(frozen=True)
class _Stop:
    """Cancel chunk `token` and restart `worker`, which computes it (cancel, timeout)."""

    token: int
    worker: str


class _Shutdown:
    """Close the connection and end the link thread."""


# -- what a Dask worker runs -------------------------------------------------------------


def compute_chunk(chunk_index: int, blob: bytes) -> ChunkResult:
    """Runs on a Dask worker: tell the daemon the chunk starts, then run its task (looked
    up by name in the worker's own registry: nothing but data is sent)."""
    worker = distributed.get_worker()
    worker.log_event(START_TOPIC, {"key": worker.get_current_task(), "chunk": chunk_index,
                                   "worker": worker.address, "pid": os.getpid()})
    allow_long_integers()
    call, payload = pickle.loads(blob)
    try:
        return compute(call, payload)
    except TaskUnavailable as error:
        raise TaskUnavailable(f"{error} on the Dask worker {worker.address}") from None


class DaskLink:
    """The connection to the scheduler at `address`, kept by a thread of its own.
    `inflight` is the backend's record of its chunks (token -> Submission), the daemon
    thread's: the link reads it, and counts the cluster's tries of a chunk in it."""

    def __init__(self, address: str, connect_timeout: float, inflight: dict[int, Submission],
                 post: Post, emit: Emit):
        self._address, self._connect_timeout = address, connect_timeout
        self._inflight, self._post, self._emit = inflight, post, emit
        self._lock = threading.Lock()  # guards the five below, shared with Dask's threads
        self._futures: dict[int, distributed.Future] = {}  # token -> its live future
        self._keys: dict[str, int] = {}  # a live future's key -> its token
        self._started: dict[int, Started] = {}  # token -> its latest start
        self._causes: dict[int, str] = {}  # token -> why it was lost, until the backend asks
        self._reruns: list[tuple[int, str]] = []  # (token, worker) started again since asked
        self._connected = threading.Event()
        # its workers as last seen (none yet), replaced whole by the link thread
        self.cluster = {"workers": 0, "threads": 0, "scheduler": address}
        self._workers_seen = 0.0
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        # One event loop for every client this link makes: a Client that fails to
        # connect leaves its own loop's thread behind, one per try for a long outage.
        self._loop = LoopRunner(asynchronous=False)
        self._loop.start()
        # A lost scheduler is ours to handle and tell of (events, runner.dask); the
        # client's own tracebacks of its failed reconnection would only bury that.
        logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
        self._thread = threading.Thread(target=self._link, name="dask-link", daemon=True)
        self._thread.start()

    # -- the daemon's thread --------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def submit(self, token: int) -> None:
        """Send chunk `token` (in `inflight`) to the cluster."""
        self._commands.put(_Submit(token))

    def cancel(self, tokens: list[int]) -> None:
        """Cancel these chunks' futures; their outcomes are dropped."""
        self._commands.put(_Cancel(tokens))

    def stop(self, token: int, worker: str, cause: str) -> None:
        """Cancel chunk `token` and restart `worker`, which computes it; `cause` is what
        `lost` will say of it."""
        with self._lock:
            self._causes[token] = cause
        self._commands.put(_Stop(token, worker))

    def forget(self, token: int) -> None:
        """The chunk's outcome is in: its start is no longer watched."""
        with self._lock:
            self._started.pop(token, None)

    def lost(self, token: int) -> Optional[str]:
        """Why chunk `token` was lost (None: it was not, for all the link knows); its
        start is no longer watched."""
        with self._lock:
            self._started.pop(token, None)
            return self._causes.pop(token, None)

    def starts(self) -> tuple[list[tuple[int, Started]], list[tuple[int, str]]]:
        """(token, its latest start) of each chunk seen starting, and (token, worker) of
        each started again since the last call."""
        with self._lock:
            reruns, self._reruns = self._reruns, []
            return list(self._started.items()), reruns

    def close(self) -> None:
        """Close the connection and end the thread; chunks on the cluster are abandoned."""
        self._commands.put(_Shutdown())
        self._thread.join(self._connect_timeout + CLOSE_SECONDS + 1)
        self._loop.stop()

    # -- the link thread --------------------------------------------------------------

    def _link(self) -> None:
        said_unreachable = False
        while True:
            try:
                client = distributed.Client(self._address, timeout=self._connect_timeout,
                                            set_as_default=False, loop=self._loop.loop)
            except Exception as error:  # OSError or TimeoutError mostly; the thread must live on
                if not said_unreachable:
                    log.warning("the Dask scheduler at %s cannot be reached (%s); jobs wait "
                                "until it can", self._address, error)
                    self._emit(events.SCHEDULER_UNREACHABLE, None, scheduler=self._address,
                               error=str(error), waiting="jobs wait until it can be reached")
                    said_unreachable = True
                if self._wait_disconnected(RECONNECT_SECONDS):
                    return
                continue
            said_unreachable = False
            try:
                if self._serve(client):
                    return
            except Exception:  # the scheduler went mid-call, or a bug: connect anew
                log.exception("the link to the Dask scheduler at %s failed", self._address)
                self._lose(client)
                if self._wait_disconnected(RECONNECT_SECONDS):
                    return

    def _wait_disconnected(self, seconds: float) -> bool:
        """Let `seconds` pass taking commands; True if one was to shut down. Other
        commands need no work: chunks still wanted are submitted on connecting."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                if isinstance(self._commands.get(timeout=left), _Shutdown):
                    return True
            except queue.Empty:
                return False
        return False

    def _serve(self, client: distributed.Client) -> bool:
        """Run commands on a connected client until the connection is lost (False) or
        the daemon shuts down (True)."""
        threads = self._see_workers(client)
        log.info("connected to the Dask scheduler at %s (%d worker threads)", self._address, threads)
        self._emit(events.SCHEDULER_CONNECTED, None, scheduler=self._address, threads=threads)
        client.subscribe_topic(START_TOPIC, self._chunk_started)
        self._connected.set()
        for token in list(self._inflight):  # lost with a connection, or submitted while away
            self._send(client, token)
        while True:
            try:
                command = self._commands.get(timeout=COMMAND_POLL_SECONDS)
            except queue.Empty:
                command = None
            if isinstance(command, _Shutdown):
                self._connected.clear()
                _close(client)
                return True
            if client.status != "running":
                self._lose(client)
                return False
            if command is None:
                if time.monotonic() - self._workers_seen >= WORKERS_SEEN_EVERY_SECONDS:
                    self._see_workers(client)
                continue
            if isinstance(command, _Submit):
                self._send(client, command.token)
            elif isinstance(command, _Cancel):
                self._cancel(client, command.tokens)
            elif isinstance(command, _Stop):
                self._cancel(client, [command.token])
                threading.Thread(target=_restart_worker, args=(client, command.worker),
                                 name="dask-restart", daemon=True).start()

    def _see_workers(self, client: distributed.Client) -> int:
        """Note the cluster's workers and their threads (what `applied` reports); the
        count of threads."""
        nthreads = client.nthreads()
        self._workers_seen = time.monotonic()
        threads = sum(nthreads.values())
        self.cluster = {"workers": len(nthreads), "threads": threads, "scheduler": self._address}
        return threads

    def _send(self, client: distributed.Client, token: int) -> None:
        submission = self._inflight.get(token)
        with self._lock:
            live = token in self._futures
        if submission is None or live:
            return
        payload = submission.chunk.payload
        try:
            if isinstance(payload, FilePayload):
                payload = read_lines(payload)
        except OSError as error:
            self._post(ChunkRaised(token, error))
            return
        job = submission.owner.job
        blob = pickle.dumps((job.task_call(), payload),
                            protocol=pickle.HIGHEST_PROTOCOL)
        # A key unique to this submission, as pure=False would give, so that equal chunks
        # are never merged; made here so that it is known before the chunk can start.
        key = f"runner-chunk-{submission.chunk.index}-{uuid.uuid4().hex}"
        with self._lock:
            self._keys[key] = token
        future = client.submit(compute_chunk, submission.chunk.index, blob, key=key)
        with self._lock:
            self._futures[token] = future
        future.add_done_callback(self._chunk_done)

    def _cancel(self, client: distributed.Client, tokens: list[int]) -> None:
        with self._lock:
            futures = [self._futures.pop(t) for t in tokens if t in self._futures]
            for future in futures:
                del self._keys[future.key]
            for token in tokens:
                self._started.pop(token, None)
        if futures:
            try:
                client.cancel(futures)
            except Exception as error:  # the connection went: the scheduler drops them itself
                log.warning("cancelling %d chunks on the cluster failed: %s", len(futures), error)

    def _lose(self, client: distributed.Client) -> None:
        self._connected.clear()
        with self._lock:
            self._futures.clear()
            self._keys.clear()
            self._started.clear()
        log.warning("lost the Dask scheduler at %s; %d chunks wait to be submitted again",
                    self._address, len(self._inflight))
        self._emit(events.SCHEDULER_LOST, None, scheduler=self._address,
                   chunks_waiting=len(self._inflight), waiting="jobs wait until it is back")
        _close(client)

    # -- Dask's threads --------------------------------------------------------------

    def _chunk_started(self, event: tuple[float, dict]) -> None:
        message = event[1]
        with self._lock:
            token = self._keys.get(message["key"])
            if token is None:
                return
            before = self._started.get(token)
            if before is not None:
                self._reruns.append((token, message["worker"]))
            self._started[token] = Started(time.monotonic(), message["worker"], message["pid"],
                                            1 if before is None else before.count + 1)

    def _chunk_done(self, future: distributed.Future) -> None:
        with self._lock:
            token = self._keys.pop(future.key, None)
            if token is not None:
                del self._futures[token]
            start = self._started.get(token, _NEVER_STARTED)
        if token is None:  # cancelled by us, or its connection was given up
            return
        try:
            if future.status == "finished":
                self._post(ChunkFinished(token, future.result()))
                return
            if future.status == "error":
                self._chunk_erred(token, start, future.exception())
                return
        except Exception as error:  # the connection went while fetching the outcome
            log.info("chunk %s: its outcome could not be fetched (%s); it runs again", future.key,
                     error)
        self._commands.put(_Submit(token))  # cancelled by the client: connection lost

    def _chunk_erred(self, token: int, start: Started, error: BaseException) -> None:
        if not isinstance(error, distributed.KilledWorker):
            self._post(ChunkRaised(token, error))
            return
        # Dask blames every chunk a dying worker held, computing or only queued there:
        # only the times the chunk was seen starting count as its tries.
        tries = max(start.count, 1)
        submission = self._inflight.get(token)
        if submission is not None:
            submission.attempt += tries - 1  # the cluster's tries count as the job's
        why = ("each worker running it died" if start.count > error.allowed_failures
               else f"workers it was queued on died (it started {start.count} times)")
        with self._lock:
            self._causes[token] = (f"{why}: Dask's KilledWorker after allowed-failures = "
                                   f"{error.allowed_failures}; the last worker was "
                                   f"{error.last_worker.address}")
        self._post(WorkerLost(CLUSTER_POOL_ID, start.pid, token, 0))


@dataclass(frozen=True)
class Started:
    """A chunk seen starting on a worker: when, where, and how many times so far."""

    since: float
    worker: str
    pid: int
    count: int


_NEVER_STARTED = Started(0.0, "", 0, 0)


def _close(client: distributed.Client) -> None:
    try:
        client.close(timeout=CLOSE_SECONDS)
    except Exception as error:  # closing a client whose scheduler is gone may time out
        log.info("closing the Dask client: %s", error)


def _restart_worker(client: distributed.Client, worker: str) -> None:
    """Stop the chunk a worker computes by restarting it (its nanny starts a new one)."""
    try:
        client.restart_workers([worker], timeout=RESTART_SECONDS, raise_for_error=False)
    except Exception as error:  # it may have gone already, or the scheduler with it
        log.warning("restarting Dask worker %s failed: %s", worker, error)
