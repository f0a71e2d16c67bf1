"""A running job's checkpoint: its output so far and a journal of the chunks behind it.

Two append-only files in the job's folder. `primes.part` holds the primes
written so far; `journal` one line per event: `S index` when a chunk is handed
to a pool, `D index tested primes end_offset` once its primes are in the output,
and `R count` when a restart found `count` chunks in flight. A chunk's primes are
appended before its `D` line, so after a crash at any instant the journal's
whole lines name exactly the chunks whose output is complete: recovery keeps
those (and the output up to the last one's end offset), and the job re-runs
only the chunks that were in flight.

Both files are flushed to the OS after every chunk (enough for a killed daemon)
and fsynced every `fsync_seconds` and at the end (for power loss, where a
journal line whose output did not reach the disk is dropped on recovery).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

JOURNAL_FILE = "journal"
OUTPUT_FILE = "primes.part"


class Checkpoint:
    """The checkpoint in `folder`, recovered if a previous run left one."""

    def __init__(self, folder: Path, fsync_seconds: float):
        self.output_path = folder / OUTPUT_FILE
        self._journal_path = folder / JOURNAL_FILE
        self._fsync_seconds = fsync_seconds
        self._last_fsync = time.monotonic()
        self.tested = self.primes = self.chunks_done = 0
        self.rerun_after_restart = 0  # chunks re-run because a daemon died holding them
        self._in_flight_at_crash = 0
        self._prefix = 0  # chunks 0 .. prefix-1 are done
        self._extra: set[int] = set()  # done chunks past the prefix (completion order)
        self.offset, journal_bytes = self._recover()
        self._output = open(self.output_path, "ab")
        self._output.truncate(self.offset)
        self._journal = open(self._journal_path, "ab")
        self._journal.truncate(journal_bytes)
        if self._in_flight_at_crash:
            self.rerun_after_restart += self._in_flight_at_crash
            self._append(f"R {self._in_flight_at_crash}\n")

    def _recover(self) -> tuple[int, int]:
        try:
            output_size = os.path.getsize(self.output_path)
            with open(self._journal_path, "rb") as handle:
                journal = handle.read()
        except FileNotFoundError:
            return 0, 0
        offset = kept = 0
        in_flight: set[int] = set()
        for line in journal.split(b"\n")[:-1]:  # the part after the last newline is torn
            try:
                kind, *numbers = line.split()
                numbers = [int(n) for n in numbers]
                if kind == b"S":
                    in_flight.add(numbers[0])
                elif kind == b"R":  # a restart counted these; they are submitted anew
                    self.rerun_after_restart += numbers[0]
                    in_flight.clear()
                else:
                    index, tested, primes, end = numbers
                    if end > output_size:
                        break
                    in_flight.discard(index)
                    self._mark_done(index)
                    self.tested += tested
                    self.primes += primes
                    offset = end
            except ValueError:
                break
            kept += len(line) + 1
        self._in_flight_at_crash = len(in_flight)
        return offset, kept

    def _mark_done(self, index: int) -> None:
        self.chunks_done += 1
        if index != self._prefix:
            self._extra.add(index)
            return
        self._prefix += 1
        while self._prefix in self._extra:
            self._extra.remove(self._prefix)
            self._prefix += 1

    def is_done(self, index: int) -> bool:
        """Whether chunk `index`'s primes are already in the output."""
        return index < self._prefix or index in self._extra

    def _append(self, line: str) -> None:
        self._journal.write(line.encode())
        self._journal.flush()

    def note_submitted(self, index: int) -> None:
        """Chunk `index` is going to a pool (so a restart can tell what was in flight)."""
        self._append(f"S {index}\n")

    def record(self, index: int, tested: int, primes: int, text: bytes) -> None:
        """Append chunk `index`'s primes, then its journal line."""
        self._output.write(text)
        self._output.flush()
        self.offset += len(text)
        self._append(f"D {index} {tested} {primes} {self.offset}\n")
        self._mark_done(index)
        self.tested += tested
        self.primes += primes
        if time.monotonic() - self._last_fsync >= self._fsync_seconds:
            self.sync()

    def sync(self) -> None:
        """Make everything recorded so far durable: output first, then the journal."""
        os.fsync(self._output.fileno())
        os.fsync(self._journal.fileno())
        self._last_fsync = time.monotonic()

    def close(self) -> None:
        self._output.close()
        self._journal.close()
