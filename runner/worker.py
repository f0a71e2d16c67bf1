"""The worker side of a supervised pool: what runs inside each pool process.

Each worker opens its own connection to the daemon's supervisor (see supervisor.py)
when the pool starts it, and says `Hello`. Around every chunk it sends `Starting`
and waits for a go-ahead (a chunk of a job cancelled meanwhile is skipped), then
sends `Ended`.
The connection is the worker's alone, so a worker killed at any instant cannot
wedge another worker's channel; and its end-of-file tells the supervisor, at
once, that the worker is gone and which chunk it held. While a chunk runs, the
worker also sends how many of its numbers are done (`Tested`, chunk_progress.py).

A chunk whose output is SPILL_MIN_BYTES or more is written to a spill file in the
job's folder and only its name returned: the Pool's one result pipe would
otherwise carry it to the daemon 64 KiB at a time (see checkpoint.py).

SIGUSR1 asks a worker to drop the chunk it is computing (cancel, timeout): the
worker exits only while computing, when it holds none of the pool's queue
locks, so stopping it never wedges the pool for the other workers.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from typing import Optional

from . import chunk_progress
from .checkpoint import SPILL_SUFFIX, ChunkResult, SpilledOutput
from .chunk_progress import Counts
from .numbers import allow_long_integers
from .task import TaskCall, compute

ABORT_EXIT_CODE = 75
ABORT_SIGNAL = signal.SIGUSR1
SKIPPED = "skipped"
SPILL_MIN_BYTES = 1 << 16

_channel: Connection | None = None
_computing = False


# -- what a worker tells its supervisor (supervisor.py), in order ----------------------


@dataclass(frozen=True)
class Hello:
    """A worker has started, in the pool `pool_id`."""

    pid: int
    pool_id: int


@dataclass(frozen=True)
class Starting:
    """The worker is about to compute chunk `token`; it waits for True (go) or False
    (skip it: its job was cancelled meanwhile)."""

    token: int


@dataclass(frozen=True)
class Tested:
    """How far chunk `token` has got (at most every chunk_progress.REPORT_EVERY_SECONDS)."""

    token: int
    counts: Counts


@dataclass(frozen=True)
class Ended:
    """The worker is done with chunk `token` (its result follows through the Pool)."""

    token: int


def initialize(address: str, authkey: bytes, pool_id: int) -> None:
    """Pool initializer: connect to the supervisor and say who we are."""
    global _channel
    allow_long_integers()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle
    signal.signal(ABORT_SIGNAL, _abort_if_computing)
    _channel = Client(address, authkey=authkey)
    _channel.send(Hello(os.getpid(), pool_id))


def _abort_if_computing(signum, frame) -> None:
    if _computing:
        os._exit(ABORT_EXIT_CODE)


def run_chunk(token: int, task: TaskCall, payload, spill_folder: Optional[str] = None):
    """Run one chunk of `task` (a registered task, by name: job files cannot name code)
    unless the supervisor says to skip it; a big output goes
    to a spill file in `spill_folder` (written while the chunk still counts as computing,
    so a worker lost meanwhile loses only this chunk)."""
    global _computing
    _channel.send(Starting(token))
    if not _channel.recv():
        return SKIPPED
    _computing = True
    chunk_progress.open_report(
        lambda tested, found: _channel.send(Tested(token, Counts(tested, found))))
    try:
        return _spill(compute(task, payload), token, spill_folder)
    finally:
        chunk_progress.close_report()
        _computing = False
        _channel.send(Ended(token))


def _spill(result: ChunkResult, token: int, folder: Optional[str]) -> ChunkResult:
    text = result.output
    if folder is None or len(text) < SPILL_MIN_BYTES:
        return result
    # named by pid too: a worker a dead daemon left running cannot hit a live one's file
    path = os.path.join(folder, f"{os.getpid()}-{token}{SPILL_SUFFIX}")
    try:
        with open(path, "wb") as out:
            out.write(text)
    except OSError:  # the job's folder is gone (the job ended) or the disk failed: send it
        return result
    return dataclasses.replace(result, output=SpilledOutput(path, len(text)))
