"""A running job's checkpoint: its output so far and a journal of the chunks behind it.

Two append-only files in the job's folder. `output.part` holds the task's output
written so far (one line a number found: a prime, a kept number, a value);
`journal` one line per event: `S index` when a chunk is handed to a pool,
`D index tested found end_offset` once its output is in, `L index` when a chunk
whose worker was lost is handed to a pool again, and `R count` when a restart found
`count` chunks in flight. A chunk's output is
appended before its `D` line, so after a crash at any instant the journal's
whole lines name exactly the chunks whose output is complete: recovery keeps
those (and the output up to the last one's end offset), and the job re-runs
only the chunks that were in flight.

Both files are flushed to the OS after every chunk (enough for a killed daemon)
and fsynced every `fsync_seconds` and at the end (for power loss, where a
journal line whose output did not reach the disk is dropped on recovery).

A job of one chunk keeps its checkpoint in memory and writes no file: a crash
could only run that chunk again, which it does with or without one. Its output
goes to the result as it came from the worker (`output`).

A chunk with much output comes from its worker as a spill file in the job's
folder (worker.py) rather than through the Pool's result pipe, which the daemon
would read 64 KiB at a time, taking the GIL each time: its bytes are copied into
the output by the kernel (`os.copy_file_range`), then the journal line written,
then the spill file removed. Spill files a crash left behind are removed on
recovery; their chunks run again.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Union

JOURNAL_FILE = "journal"
OUTPUT_FILE = "output.part"
_OUTPUT_FILE_BEFORE_TASKS = "primes.part"  # its name before tasks: such a job resumes too
SPILL_SUFFIX = ".spill"
_NO_KERNEL_COPY = (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


@dataclass(frozen=True)
class SpilledOutput:
    """A chunk's output, as text, that its worker left in the file at `path`."""

    path: str
    size: int


ChunkOutput = Union[bytes, SpilledOutput]  # a chunk's output: the text, or where it is


def remove_spill_files(folder: Path) -> None:
    """Remove the spill files in a job's folder: outputs of chunks that nobody will record
    (a crash's, whose chunks run again; a finished job's, once its output is committed)."""
    for name in os.listdir(folder):
        if name.endswith(SPILL_SUFFIX):
            (folder / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk gave, whatever its task: its numbers done, how many of them gave
    an output line (`found`), and that output."""

    tested: int
    found: int
    output: ChunkOutput


class Checkpoint:
    """The checkpoint in `folder`: with `recover`, the one a previous run left, if any
    (else whatever is there is discarded); with `on_disk` false (a job of one chunk) and
    none recovered, kept in memory alone."""

    def __init__(self, folder: Path, fsync_seconds: float, on_disk: bool = True,
                 recover: bool = True):
        self.output_path = folder / OUTPUT_FILE
        self._journal_path = folder / JOURNAL_FILE
        self._fsync_seconds = fsync_seconds
        self._last_fsync = time.monotonic()
        self.tested = self.found = self.chunks_done = 0
        self.rerun_after_restart = 0  # chunks re-run because a daemon died holding them
        self.retried = 0  # chunks handed again because their worker was lost, over restarts
        self._in_flight_at_crash = 0
        self._prefix = 0  # chunks 0 .. prefix-1 are done
        self._extra: set[int] = set()  # done chunks past the prefix (completion order)
        self._held: ChunkOutput = b""  # the one chunk's output, kept in memory
        self.offset, journal_bytes = self._recover() if recover else (0, 0)
        self.on_disk = on_disk or (recover and os.path.exists(self._journal_path))
        if not self.on_disk:
            return
        # not opened to append: os.copy_file_range cannot write to an O_APPEND file
        self._output = open(os.open(self.output_path, os.O_WRONLY | os.O_CREAT, 0o644), "wb")
        self._output.truncate(self.offset)
        self._output.seek(self.offset)
        self._journal = open(self._journal_path, "ab")
        self._journal.truncate(journal_bytes)
        if self._in_flight_at_crash:
            self.rerun_after_restart += self._in_flight_at_crash
            self._append(f"R {self._in_flight_at_crash}\n")

    def _recover(self) -> tuple[int, int]:
        before_tasks = self.output_path.with_name(_OUTPUT_FILE_BEFORE_TASKS)
        if before_tasks.exists() and not self.output_path.exists():
            os.rename(before_tasks, self.output_path)
        try:
            output_size = os.path.getsize(self.output_path)
            with open(self._journal_path, "rb") as handle:
                journal = handle.read()
        except FileNotFoundError:
            return 0, 0
        remove_spill_files(self._journal_path.parent)  # a crash's: their chunks run again
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
                elif kind == b"L":
                    self.retried += 1
                else:
                    index, tested, found, end = numbers
                    if end > output_size:
                        break
                    in_flight.discard(index)
                    self._mark_done(index)
                    self.tested += tested
                    self.found += found
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
        """Whether chunk `index`'s output is already recorded."""
        return index < self._prefix or index in self._extra

    def _append(self, line: str) -> None:
        self._journal.write(line.encode())
        self._journal.flush()

    def note_submitted(self, index: int) -> None:
        """Chunk `index` is going to a pool (so a restart can tell what was in flight)."""
        if self.on_disk:
            self._append(f"S {index}\n")

    def note_retried(self, index: int) -> None:
        """Chunk `index`'s worker was lost, and it is tried again: counted, and kept in the
        journal, so that a resumed job's result still says how many chunks were retried."""
        self.retried += 1
        if self.on_disk:
            self._append(f"L {index}\n")

    def record(self, index: int, result: ChunkResult) -> None:
        """Append chunk `index`'s output (text, or a spill file, removed once recorded),
        then its journal line; in memory, keep the output as it came."""
        if self.on_disk:
            self._write(index, result)
        else:
            self._held = result.output
        self._mark_done(index)
        self.tested += result.tested
        self.found += result.found
        if self.on_disk and time.monotonic() - self._last_fsync >= self._fsync_seconds:
            self.sync()

    def _write(self, index: int, result: ChunkResult) -> None:
        output = result.output
        if isinstance(output, SpilledOutput):
            self._output.flush()
            self._copy_in(output)
            self.offset += output.size
            self._output.seek(self.offset)
        else:
            self._output.write(output)
            self._output.flush()
            self.offset += len(output)
        self._append(f"D {index} {result.tested} {result.found} {self.offset}\n")
        if isinstance(output, SpilledOutput):
            os.unlink(output.path)

    def output(self) -> Union[Path, bytes]:
        """The output recorded, one line a number found: the file holding them (the output, or a
        one-chunk job's spill file), or the text itself."""
        if self.on_disk:
            return self.output_path
        if isinstance(self._held, SpilledOutput):
            return Path(self._held.path)
        return self._held

    def _copy_in(self, spilled: SpilledOutput) -> None:
        """Copy the spill file to the output at `offset`, in the kernel where it can."""
        with open(spilled.path, "rb") as source:
            copied = 0
            try:
                while copied < spilled.size:
                    step = os.copy_file_range(source.fileno(), self._output.fileno(),
                                              spilled.size - copied, copied, self.offset + copied)
                    if step == 0:
                        raise OSError(errno.EIO, f"{spilled.path} is shorter than its worker wrote")
                    copied += step
            except OSError as error:
                if error.errno not in _NO_KERNEL_COPY or copied:
                    raise
                self._output.seek(self.offset)  # this filesystem cannot: copy it here
                shutil.copyfileobj(source, self._output)
                self._output.flush()

    def sync(self) -> None:
        """Make everything recorded so far durable: output first, then the journal."""
        if self.on_disk:
            os.fsync(self._output.fileno())
            os.fsync(self._journal.fileno())
        self._last_fsync = time.monotonic()

    def close(self) -> None:
        if self.on_disk:
            self._output.close()
            self._journal.close()
