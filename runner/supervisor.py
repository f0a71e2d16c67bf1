"""The supervisor: one connection from every pool worker, so that the daemon knows which
chunk each worker holds and learns of a worker's death the moment it happens.

    worker --Hello / Starting / Tested / Ended--> own connection --> Supervisor's read thread
    Supervisor: connection EOF --> WorkerLost(which chunk it held) --> daemon queue

A worker connects as it starts (worker.initialize) and asks before each chunk whether
it is still wanted (a chunk of a cancelled job is skipped). The supervisor keeps each
chunk's counts so far, as its worker last said them, for the job's progress. It runs in
threads of its own (one accepts connections, one reads them) and posts to the daemon's
queue; the pools (pools.py) decide what a lost worker means.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, Listener, wait
from typing import Callable, Optional

from . import worker
from .backend import WorkerLost
from .chunk_progress import Counts


@dataclass
class _WorkerChannel:
    """One worker's connection, and what the worker said on it: who it is, the chunk it
    computes (a token) and since when, and how many chunks it ended."""

    conn: Connection
    pid: int = 0
    pool_id: int = -1
    holding: Optional[int] = None
    started: float = 0.0
    chunks_ended: int = 0


class Supervisor:
    """Listens for workers' connections and watches them; runs in threads of its own."""

    def __init__(self, post: Callable[[object], None], wanted: Callable[[int], bool]):
        self._post, self._wanted = post, wanted
        self._authkey = secrets.token_bytes(32)
        self._listener = Listener(family="AF_UNIX", authkey=self._authkey)
        self._channels: dict[Connection, _WorkerChannel] = {}
        self._tested: dict[int, Counts] = {}  # token -> its worker's last counts
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        self._closed = False
        for target in (self._accept_loop, self._read_loop):
            threading.Thread(target=target, name=f"supervisor-{target.__name__}", daemon=True).start()

    @property
    def worker_args(self) -> tuple[str, bytes]:
        return self._listener.address, self._authkey

    def holders(self) -> list[tuple[int, int, float]]:
        """(token, pid, started) for every chunk a worker is computing now."""
        with self._lock:
            return [(c.holding, c.pid, c.started) for c in self._channels.values() if c.holding is not None]

    def tested_so_far(self) -> dict[int, Counts]:
        """The counts so far of each chunk (by token) whose worker said them while
        computing it; a chunk stays here after it ends until `forget_tested`, so that its
        count holds until its result is in, and leaves at once if its worker dies."""
        with self._lock:
            return dict(self._tested)

    def forget_tested(self, token: int) -> None:
        """The chunk's result is in (or nobody wants it): its count is over."""
        with self._lock:
            self._tested.pop(token, None)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        os.write(self._wake_write, b"x")

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except (OSError, EOFError, multiprocessing.AuthenticationError):
                continue  # closed, or a client that failed the handshake
            with self._lock:
                self._channels[conn] = _WorkerChannel(conn)
            os.write(self._wake_write, b"x")

    def _read_loop(self) -> None:
        while not self._closed:
            with self._lock:
                conns = list(self._channels)
            for ready in wait(conns + [self._wake_read]):
                if ready == self._wake_read:
                    os.read(self._wake_read, 4096)
                else:
                    self._read_one(self._channels[ready])

    def _read_one(self, channel: _WorkerChannel) -> None:
        try:
            message = channel.conn.recv()
            if isinstance(message, worker.Hello):
                channel.pid, channel.pool_id = message.pid, message.pool_id
            elif isinstance(message, worker.Starting):
                go = self._wanted(message.token)
                if go:
                    channel.holding, channel.started = message.token, time.monotonic()
                channel.conn.send(go)
            elif isinstance(message, worker.Tested):
                if channel.holding == message.token:
                    with self._lock:
                        self._tested[message.token] = message.counts
            elif isinstance(message, worker.Ended):
                if not self._wanted(message.token):  # its result is in already, or unwanted
                    self.forget_tested(message.token)
                channel.holding = None
                channel.chunks_ended += 1
        except (EOFError, OSError):  # the worker is gone
            with self._lock:
                del self._channels[channel.conn]
                self._tested.pop(channel.holding, None)  # its partial count is lost with it
            channel.conn.close()
            self._post(WorkerLost(channel.pool_id, channel.pid, channel.holding, channel.chunks_ended))
