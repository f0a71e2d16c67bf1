"""How far the chunk a worker computes has got: its numbers done so far, and how many
of them gave an output line (primes found, or values).

A task calls `tested(count, found)` as it goes (the primes task after each number
past 2^64 and each piece of a file; `task.compute` after each batch of numbers of a
plugin task, batches that grow while they take under 10 ms, or each chunk call). In
a pool worker, `worker.run_chunk` opens a report around the chunk, and the counts
reach the daemon over the worker's own connection at most every REPORT_EVERY_SECONDS,
so that a job's progress moves within a chunk, however long its chunks take. Anywhere else (the daemon, a Dask worker, a test) no report is
open and `tested` costs an attribute check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

REPORT_EVERY_SECONDS = 0.2


@dataclass(frozen=True)
class Counts:
    """Numbers tested, and how many of them gave an output line (`found`)."""

    tested: int = 0
    found: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.tested + other.tested, self.found + other.found)


_send: Optional[Callable[[int, int], None]] = None  # where the counts go while a chunk runs
_tested = _found = 0
_sent_at = 0.0


def open_report(send: Callable[[int, int], None]) -> None:
    """Count the numbers of a chunk that starts now; `send(tested, found)` is called
    with the counts at most every REPORT_EVERY_SECONDS."""
    global _send, _tested, _found, _sent_at
    _send, _tested, _found, _sent_at = send, 0, 0, time.monotonic()


def close_report() -> None:
    """The chunk is over: stop counting."""
    global _send
    _send = None


def tested(count: int, found: int) -> None:
    """`count` more numbers of the running chunk are done, `found` of them giving an
    output line."""
    global _tested, _found, _sent_at
    if _send is None:
        return
    _tested += count
    _found += found
    now = time.monotonic()
    if now - _sent_at >= REPORT_EVERY_SECONDS:
        _sent_at = now
        _send(_tested, _found)
