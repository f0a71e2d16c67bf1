"""Where chunks run: the interface the daemon talks to, whatever computes them.

The daemon and its job runs never know which backend they use. A backend takes
chunks (`submit`) and later posts, to the daemon's queue, one message per chunk:
`ChunkFinished`, `ChunkRaised` or `WorkerLost`. The daemon hands each message
back to the backend (`take`, `worker_lost`), which says which `Submission` it
belongs to, or that nobody wants it any more. Every method is called from the
daemon's one thread and must return at once: a backend that waits for a
server does so in threads of its own.

Two backends implement it: `local` (pools.py, persistent supervised
`multiprocessing.Pool`s, the default, no server) and `dask` (dask_backend.py, a
Dask distributed cluster); this module imports neither (the daemon picks one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Protocol

from .checkpoint import ChunkResult
from .chunk_progress import Counts
from .spec import PoolSettings

if TYPE_CHECKING:
    from .chunks import Chunk
    from .spec import Job

Post = Callable[[object], None]
Emit = Callable[..., None]


# -- messages to the daemon's thread ---------------------------------------------


@dataclass(frozen=True)
class ChunkFinished:
    """Chunk `token` came back with its result."""

    token: int
    result: ChunkResult


@dataclass(frozen=True)
class ChunkRaised:
    """Chunk `token` raised `error` (a task's exception, a timeout, a missing task)."""

    token: int
    error: BaseException


@dataclass(frozen=True)
class WorkerLost:
    """A worker of pool `pool_id` died (`pid`), holding chunk `holding` or none, after
    ending `chunks_ended` chunks."""

    pool_id: int
    pid: int
    holding: Optional[int]  # the chunk token it held, or None if it was between chunks
    chunks_ended: int


class ChunkOwner(Protocol):
    """Who submits chunks (run.JobRun): its job, and where each chunk's outcome goes."""

    job: "Job"

    def chunk_finished(self, submission: "Submission", result: ChunkResult) -> None: ...

    def chunk_raised(self, submission: "Submission", error: BaseException) -> None: ...

    def chunk_lost(self, submission: "Submission", cause: str) -> None: ...


@dataclass
class Submission:
    """A chunk handed to a backend: who asked (`owner`), what, and which try this is.
    `pool` is the backend's own record of where it runs, opaque to everyone else."""

    owner: ChunkOwner
    chunk: "Chunk"
    attempt: int
    pool: object
    timeout: float
    spill_folder: Optional[str] = None  # where a worker on this machine may leave a big output
    timed_out: bool = False
    submitted_at: float = field(default_factory=time.monotonic)


# -- the interface ---------------------------------------------------------------


class Backend(Protocol):
    """What the daemon needs from whatever runs its chunks. The implementations
    subclass it, for the two methods with a default."""

    def acquire(self, settings: PoolSettings) -> bool:
        """Reserve room to run a job with `settings`; False while there is none (the
        caller asks again at its next advance)."""
        ...

    def release(self, settings: PoolSettings) -> None:
        """A job that `acquire`d with `settings` is done."""
        ...

    def submit(self, settings: PoolSettings, owner: ChunkOwner, chunk: "Chunk", attempt: int,
               timeout: float, spill_folder: Optional[str] = None) -> None:
        """Run `chunk` for `owner` (its job, which has acquired `settings`). Its outcome
        comes back as one message to the daemon, which `take` or `worker_lost` turns
        into this Submission. A backend whose workers share this machine's disk may have
        them leave a big output in `spill_folder` (a checkpoint.SpilledOutput); others
        return it as bytes."""
        ...

    def take(self, token: int) -> Optional[Submission]:
        """The submission a ChunkFinished or ChunkRaised belongs to, or None if it is no
        longer wanted."""
        ...

    def worker_lost(self, event: WorkerLost) -> list[tuple[Submission, str]]:
        """The chunks a WorkerLost took down, each with its cause for people; their
        owners decide whether to submit them again."""
        ...

    def abort_owner(self, owner: ChunkOwner) -> None:
        """Drop every chunk of `owner` now: none of its messages comes back through
        `take` or `worker_lost`, and the computing ones are stopped or abandoned."""
        ...

    def tested_so_far(self, owner: ChunkOwner) -> Counts:
        """The counts so far of `owner`'s chunks in flight, before their results are in
        (progress within a chunk); none from a backend whose workers do not say."""
        return Counts()

    def unavailable(self) -> Optional[str]:
        """Why no chunk can run now, for people (`runner status`); None while they can."""
        ...

    def applied(self, chunks_in_flight: int) -> dict:
        """What runs a job's chunks, where its own pool settings do not say it (a
        cluster's workers), to report over them; `chunks_in_flight` is the most chunks the
        job keeps submitted at once. Empty when the job's settings apply as they are."""
        return {}

    def tick(self) -> None:
        """Called often (every few tens of ms): enforce chunk timeouts and tidy up."""
        ...

    def shutdown(self) -> None:
        """Stop everything this backend started; chunks in flight are abandoned."""
        ...

