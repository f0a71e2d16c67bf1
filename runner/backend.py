"""Where chunks run: the interface the daemon talks to, whatever computes them.

The daemon and its job runs never know which backend they use. A backend takes
chunks (`submit`) and later posts, to the daemon's queue, one message per chunk:
`ChunkFinished`, `ChunkRaised` or `WorkerLost`. The daemon hands each message
back to the backend (`take`, `worker_lost`), which says which `Submission` it
belongs to, or that nobody wants it any more. Every method is called from the
daemon's one thread and must return at once: a backend that waits for a
server does so in threads of its own.

Two backends: `local` (pools.py, persistent supervised `multiprocessing.Pool`s,
the default, no server) and `dask` (dask_backend.py, a Dask distributed
cluster; imported only when config.yaml asks for it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .checkpoint import ChunkResult
from .chunk_progress import Counts
from .config import Config
from .job import PoolSettings

Post = Callable[[object], None]
Emit = Callable[..., None]


# -- messages to the daemon's thread ---------------------------------------------


@dataclass(frozen=True)
class ChunkFinished:
    token: int
    result: ChunkResult


@dataclass(frozen=True)
class ChunkRaised:
    token: int
    error: BaseException


@dataclass(frozen=True)
class WorkerLost:
    pool_id: int
    pid: int
    holding: Optional[int]  # the chunk token it held, or None if it was between chunks
    chunks_ended: int


@dataclass
class Submission:
    """A chunk handed to a backend: who asked (`owner`), what, and which try this is.
    `pool` is the backend's own record of where it runs."""

    owner: Any
    chunk: Any
    attempt: int
    pool: Any
    timeout: float
    spill_folder: Optional[str] = None  # where a worker on this machine may leave a big output
    timed_out: bool = False
    submitted_at: float = field(default_factory=time.monotonic)


# -- the interface ---------------------------------------------------------------


class Backend:
    """What the daemon needs from whatever runs its chunks."""

    def acquire(self, settings: PoolSettings) -> bool:
        """Reserve room to run a job with `settings`; False while there is none (the
        caller asks again at its next advance)."""
        raise NotImplementedError

    def release(self, settings: PoolSettings) -> None:
        """A job that `acquire`d with `settings` is done."""
        raise NotImplementedError

    def submit(self, settings: PoolSettings, owner, chunk, attempt: int, timeout: float,
               spill_folder: Optional[str] = None) -> None:
        """Run `chunk` for `owner` (its job, which has acquired `settings`). Its outcome
        comes back as one message to the daemon, which `take` or `worker_lost` turns
        into this Submission. A backend whose workers share this machine's disk may have
        them leave a big output in `spill_folder` (a checkpoint.SpilledOutput); others
        return it as bytes."""
        raise NotImplementedError

    def take(self, token: int) -> Optional[Submission]:
        """The submission a ChunkFinished or ChunkRaised belongs to, or None if it is no
        longer wanted."""
        raise NotImplementedError

    def worker_lost(self, event: WorkerLost) -> list[tuple[Submission, str]]:
        """The chunks a WorkerLost took down, each with its cause for people; their
        owners decide whether to submit them again."""
        raise NotImplementedError

    def abort_owner(self, owner) -> None:
        """Drop every chunk of `owner` now: none of its messages comes back through
        `take` or `worker_lost`, and the computing ones are stopped or abandoned."""
        raise NotImplementedError

    def tested_so_far(self, owner) -> Counts:
        """The counts so far of `owner`'s chunks in flight, before their results are in
        (progress within a chunk); none from a backend whose workers do not say."""
        return Counts()

    def unavailable(self) -> Optional[str]:
        """Why no chunk can run now, for people (`runner status`); None while they can."""
        raise NotImplementedError

    def applied(self, chunks_in_flight: int) -> dict:
        """What runs a job's chunks, where its own pool settings do not say it (a
        cluster's workers), to report over them; `chunks_in_flight` is the most chunks the
        job keeps submitted at once. Empty when the job's settings apply as they are."""
        return {}

    def tick(self) -> None:
        """Called often (every few tens of ms): enforce chunk timeouts and tidy up."""
        raise NotImplementedError

    def shutdown(self) -> None:
        """Stop everything this backend started; chunks in flight are abandoned."""
        raise NotImplementedError


def open_backend(config: Config, post: Post, emit: Emit) -> Backend:
    """The backend config.yaml names, posting its messages with `post` and its events
    with `emit`."""
    if config.backend == "dask":
        from .dask_backend import DaskBackend  # distributed: only when asked for

        return DaskBackend(config, post, emit)
    from .pools import PoolManager

    return PoolManager(config, post, emit)
