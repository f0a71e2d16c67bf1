"""How far the chunk a worker computes has got: its numbers done so far.

A task calls `tested(count)` as it goes (the primes task after each number past 2^64
and each piece of a file; `task.compute` after each number of a plugin task). In a
pool worker, `worker.run_chunk` opens a report around the chunk, and the count
reaches the daemon over the worker's own connection at most every
REPORT_EVERY_SECONDS, so that a job's progress moves within a chunk, however long
its chunks take. Anywhere else (the daemon, a Dask worker, a test) no report is
open and `tested` costs an attribute check.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

REPORT_EVERY_SECONDS = 0.2

_send: Optional[Callable[[int], None]] = None  # where the count goes while a chunk runs
_done = 0
_sent_at = 0.0


def open_report(send: Callable[[int], None]) -> None:
    """Count the numbers of a chunk that starts now; `send(done)` is called with the
    count at most every REPORT_EVERY_SECONDS."""
    global _send, _done, _sent_at
    _send, _done, _sent_at = send, 0, time.monotonic()


def close_report() -> None:
    """The chunk is over: stop counting."""
    global _send
    _send = None


def tested(count: int) -> None:
    """`count` more numbers of the running chunk are done."""
    global _done, _sent_at
    if _send is None:
        return
    _done += count
    now = time.monotonic()
    if now - _sent_at >= REPORT_EVERY_SECONDS:
        _sent_at = now
        _send(_done)
