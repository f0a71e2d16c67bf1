"""The chunk plan: a job's numbers cut into chunks, streamed (no job is ever held whole),
and the survey of a numbers file that the plan and the door need (how many numbers, how
long, whether the workers will take every line).

A numbers file is not read by the daemon beyond finding line boundaries: each chunk names
a byte range of the file, which its worker reads and parses (chunks.py). A chunk holds at
most the job's `chunksize` numbers; a job whose task says what a number may cost
(`Task.worst_seconds`) also has `chunk_caps`, the most numbers of a given length in digits
a chunk may hold, and its chunks are cut by cost: each number weighs a 1/cap share of a
chunk, and a chunk ends with the number that fills it. So a job of cheap 64-bit numbers
with a few costly 200-bit ones gets big chunks of the first and small ones of the others,
each about CHUNK_SECONDS_TARGET (resolve.py) at worst, rather than chunks of one number
throughout.

The plan is made again from the saved spec when a daemon resumes a job, and must come out
the same: it depends on nothing but the spec and the file's bytes (the input is the
spool's own copy, never changed).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple, Optional, Union

from .numbers import decimal_digits, max_decimal_digits, whole_line_pieces

if TYPE_CHECKING:
    import numpy as np

    from .chunks import Chunk
    from .spec import Job

# chunks.py (five dataclasses: 2 ms to import) is imported by the functions that make or
# parse chunks, not with this module: the door's check of a file of plain lines needs none

# the daemon reads a numbers file this much at a time: numpy's temporaries for a block
# take several times its size (at 1 MiB, 4 MiB more of the daemon's peak memory)
READ_BLOCK_BYTES = 1 << 17
# up to this size, the door checks a numbers file with bytes methods (about 5 ms a MiB
# here): importing numpy would cost 40 to 100 ms
CHECK_IN_BYTES_MAX = 8 << 20
# lines shorter than this are counted by length with a table of every length (bincount:
# no sort, fewer and smaller temporaries than np.unique, 0.35 MiB of the daemon's peak)
_COUNTED_LENGTH_MAX = 1 << 12
COST_UNIT = 1 << 32  # a whole chunk, in the integer weights a cost plan adds up
# a tapered job's chunk takes a 1/(TAPER_SHARE * processes) share of the numbers left,
# and holds at least chunksize / TAPER_FLOOR numbers (see chunk_sizes)
TAPER_SHARE = 2
TAPER_FLOOR = 8
_NUMBER_TOKEN = re.compile(rb"^[ \t\r\v\f]*([^ \t\r\n\v\f#]+)", re.M)  # a line's number
_NEWLINE_BYTE = ord("\n")
_ZERO_BYTE = ord("0")  # the bytes below it, but newlines, are blanks, "#" and punctuation
_NINE_BYTE = ord("9")
_COMMENT_BYTE = ord("#")
_BLANKS = b" \t\r\v\f\n"  # what a line may hold besides its number


# -- the survey -------------------------------------------------------------------------


class NumbersSurvey(NamedTuple):
    """What a numbers file holds: how many numbers (lines holding something other than
    blanks or a comment), and how many of each length, in characters (digits, leading
    zeros included): what a task's cost is judged by."""

    count: int
    lengths: dict[int, int]


def survey_numbers_file(path: Path) -> NumbersSurvey:
    """How many numbers the file holds, and of which lengths, in one pass (numpy for a
    big file of plain lines; bytes methods and a pattern for a small one or one with
    blanks and comments)."""
    from .chunks import BYTES_CHECK_MAX

    if os.path.getsize(path) > BYTES_CHECK_MAX:
        plain = _survey_plain_lines(path)
        if plain is not None:
            return plain
    return _survey_by_pattern(path)


def _survey_plain_lines(path: Path) -> Optional[NumbersSurvey]:
    """The survey, in numpy, if no byte of the file but newlines is below b"0" (no blank
    but empty lines, no comment: the common case), else None."""
    import numpy as np

    lengths: Counter = Counter()
    for block, line_lengths in _line_lengths(path):
        if block is not None and np.count_nonzero(block < _ZERO_BYTE) != len(line_lengths):
            return None
        if len(line_lengths) and line_lengths.max() < _COUNTED_LENGTH_MAX:
            counts = np.bincount(line_lengths).tolist()
            lengths.update({length: n for length, n in enumerate(counts) if n})
        else:  # a line too long to count by a table of every length up to it
            values, counts = np.unique(line_lengths, return_counts=True)
            lengths.update(dict(zip(values.tolist(), counts.tolist())))
    del lengths[0]  # empty lines
    return NumbersSurvey(sum(lengths.values()), dict(lengths))


def _survey_by_pattern(path: Path) -> NumbersSurvey:
    lengths: Counter = Counter()
    for text in _whole_lines(path):
        lengths.update(map(len, _NUMBER_TOKEN.findall(text)))
    return NumbersSurvey(sum(lengths.values()), dict(lengths))


def holds_only_short_digit_lines(path: Path, max_digits: int) -> bool:
    """Whether the file is nothing but lines of digits, none longer than `max_digits`:
    then every line is a number the workers accept, and none need be parsed to know it
    (one numpy pass, or bytes methods for a file of at most CHECK_IN_BYTES_MAX; a file
    with anything else, even a blank line, says False)."""
    if os.path.getsize(path) <= CHECK_IN_BYTES_MAX:
        return all(not text.startswith(b"\n") and b"\n\n" not in text  # no empty line
                   and not text.translate(None, b"0123456789\n")
                   and (len(text) <= max_digits
                        or max(map(len, text.split(b"\n"))) <= max_digits)
                   for text in _whole_lines(path))
    import numpy as np

    for block, lengths in _line_lengths(path):
        if block is not None and (block.max() > _NINE_BYTE
                                  or np.count_nonzero(block < _ZERO_BYTE) != len(lengths)):
            return False  # a byte other than digits and newlines
        if len(lengths) and (lengths.min() == 0 or lengths.max() > max_digits):
            return False
    return True


def _whole_lines(path: Path) -> Iterator[bytes]:
    """The file's text in pieces that end where a line ends, as a worker reads it."""
    return whole_line_pieces(str(path), 0, os.path.getsize(path))


def _line_lengths(path: Path) -> Iterator[tuple[Optional[np.ndarray], np.ndarray]]:
    """Each block of the file (a numpy view), with the lengths of the lines that end in it
    (one a newline it holds; the first counts its part in the blocks before); last, if the
    file's last line has no newline, None with that line's length."""
    import numpy as np

    running = 0  # the length of the line going on from the blocks before
    for block in _file_blocks(path):
        ends = np.flatnonzero(block == _NEWLINE_BYTE)
        lengths = np.diff(ends, prepend=-1) - 1
        if len(ends):
            lengths[0] += running
            running = len(block) - 1 - int(ends[-1])
        else:
            running += len(block)
        yield block, lengths
    if running:
        yield None, np.array([running])


def check_numbers_file(path: Path, max_bits: int) -> None:
    """Read every line of a numbers file as the workers will, a piece at a time (memory
    stays small however long it is); BadNumberLine names the first line they would
    refuse."""
    # the common case, told in one pass: every line a number of fewer digits than the
    # most a number of max_bits bits can have, which is within the limit (with as many,
    # 2**4096 has 4097 bits and 2**4096 - 1 has 4096: those lines are parsed)
    if holds_only_short_digit_lines(path, max_decimal_digits(max_bits) - 1):
        return
    from .chunks import FilePayload, parse_numbers, read_pieces

    size = os.path.getsize(path)
    for piece in read_pieces(FilePayload(str(path), 0, size, 1, max_bits)):
        parse_numbers(piece)


def _file_blocks(path: Union[str, Path]) -> Iterator[np.ndarray]:
    """The file's bytes, READ_BLOCK_BYTES at a time, each block a uint8 view of one
    buffer that the next read overwrites (so reading a big file allocates nothing)."""
    import numpy as np

    buffer = bytearray(READ_BLOCK_BYTES)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            yield np.frombuffer(buffer, dtype=np.uint8, count=size)


# -- the plan ---------------------------------------------------------------------------


def plan_chunks(job: Job, root: Path, max_bits: int) -> Iterator[Chunk]:
    """Every chunk of `job`, in input order, made lazily as the caller asks for them."""
    from .chunks import Chunk, FilePayload, RangePayload

    if job.numbers is not None:
        yield from _chunks_of_numbers(job)
    elif job.range is not None:
        first, stop = job.range
        for index, size in enumerate(chunk_sizes(job)):
            if first >= stop:
                break
            yield Chunk(index, RangePayload(first, min(first + size, stop)))
            first += size
    else:
        path = str(root / job.numbers_file)
        for index, (begin, end, line) in enumerate(_number_runs(path, _cutter(job))):
            yield Chunk(index, FilePayload(path, begin, end, line, max_bits))


def _chunks_of_numbers(job: Job) -> Iterator[Chunk]:
    from .chunks import Chunk, NumbersPayload

    numbers = job.numbers
    if not numbers:
        firsts = []
    elif not job.chunk_caps:
        firsts = [0, *_cutter(job).starts(len(numbers))]
    else:
        import numpy as np

        lengths = np.fromiter(map(decimal_digits, numbers), dtype=np.int64, count=len(numbers))
        firsts = [0, *_cutter(job).starts(lengths)]
    for index, (first, stop) in enumerate(zip(firsts, [*firsts[1:], len(numbers)])):
        yield Chunk(index, NumbersPayload(numbers[first:stop], first))


def chunk_sizes(job: Job) -> Iterator[int]:
    """How many numbers each of the job's chunks holds, in order, where they are cut by
    count: its chunksize each; or, for a job whose chunksize the runner picked for a task
    of unknown cost (`job.tapered`), guided self-scheduling: each chunk a
    1/(TAPER_SHARE * processes) share of the numbers not yet cut, at most chunksize and
    at least chunksize / TAPER_FLOOR. Its chunks are full until the last few, which
    shrink, so that the workers end together rather than one waiting out the other's
    last full chunk. Made from the saved job alone: a resumed job is cut the same."""
    return _tapered_sizes(job) if job.tapered else itertools.repeat(job.chunksize)


def _tapered_sizes(job: Job) -> Iterator[int]:
    share, least = TAPER_SHARE * job.pool.processes, max(1, job.chunksize // TAPER_FLOOR)
    left = job.total
    while True:
        size = max(least, min(job.chunksize, -(-left // share)))  # -(-a // b): a / b rounded up
        yield size
        left -= size


class _ByCount:
    """Starts a chunk after each run of as many numbers as the next of `sizes` says."""

    needs_lengths = False

    def __init__(self, sizes: Iterator[int]):
        self._sizes = sizes
        self._left = next(sizes)  # numbers still to go into the chunk being gathered

    def starts(self, count: int) -> list[int]:
        """Which of the next `count` numbers (indices among them) start a new chunk."""
        starts, position = [], self._left
        while position < count:
            starts.append(position)
            position += next(self._sizes)
        self._left = position - count
        return starts


class _ByCost:
    """Starts a chunk with the first number that does not fit in the one being gathered:
    a chunk holds numbers weighing at most COST_UNIT in all (a number `d` characters long
    weighs `weights[d]`, the last entry for any longer one), and at most `size`."""

    needs_lengths = True

    def __init__(self, weights: np.ndarray, size: int):
        self.weights, self.size = weights, size
        self.spent = self.held = 0  # the weight and count of the chunk being gathered

    def starts(self, lengths: np.ndarray) -> list[int]:
        """Which of the next numbers, of these lengths, start a new chunk."""
        import numpy as np

        if not len(lengths):
            return []
        weight = self.weights[np.minimum(lengths, len(self.weights) - 1)]
        total = np.cumsum(weight)  # weight from the block's start
        base, first = -self.spent, -self.held  # the chunk's start, in the block's frame
        starts = []
        while True:
            fits = int(np.searchsorted(total, base + COST_UNIT, side="right"))
            start = min(fits, first + self.size)
            if start >= len(total):
                break
            starts.append(start)
            base, first = int(total[start] - weight[start]), start
        self.spent, self.held = int(total[-1]) - base, len(total) - first
        return starts


def _cutter(job: Job) -> Union[_ByCount, _ByCost]:
    """How the job's numbers are cut: by count, or also by the cost its chunk_caps give.
    A number's weight is COST_UNIT / its cap, rounded down, so that a chunk holds at most
    `cap` such numbers (caps are far below sqrt(COST_UNIT): one more never fits)."""
    if not job.chunk_caps:
        return _ByCount(chunk_sizes(job))
    import numpy as np

    caps = dict(job.chunk_caps)
    weights = np.full(max(caps) + 1, COST_UNIT // job.chunksize, dtype=np.int64)
    for length, cap in caps.items():
        weights[length] = COST_UNIT // cap
    return _ByCost(weights, job.chunksize)


def _number_runs(path: str, cutter: Union[_ByCount, _ByCost]) -> Iterator[tuple[int, int, int]]:
    """(start byte, stop byte, first line number) of each chunk of the file's numbers,
    as `cutter` cuts them: blank lines and comments count for nothing. A chunk ends with
    the line of its last number; the blank and comment lines after it open the next."""
    import numpy as np

    run_start, first_line = 0, 1  # where the chunk being gathered starts: byte, line
    after_last = (0, 1)  # byte and line just after the last number's line so far
    lines_seen = 0  # whole lines before `data`
    open_line: Optional[bool] = None  # whether the line going on into the next data holds a number
    open_length = _LineLength(0, False)  # its number's length so far
    offset = 0  # byte offset of `data` in the file
    for data in _file_blocks(path):
        newlines = np.flatnonzero(data == _NEWLINE_BYTE)
        holds, open_line = _lines_holding_numbers(data, newlines, open_line)
        number_lines = np.flatnonzero(holds)
        starts, open_length = _chunk_starts(cutter, data, newlines, number_lines, open_length)
        stops = offset + newlines[number_lines] + 1
        ends = [(int(stops[start - 1]), lines_seen + int(number_lines[start - 1]) + 2)
                if start else after_last for start in starts]
        if len(number_lines):
            after_last = (int(stops[-1]), lines_seen + int(number_lines[-1]) + 2)
        lines_seen += len(newlines)
        offset += len(data)
        # the job runs between two of the yields below: the block's arrays go first, or it
        # would hold them all that while (0.2 MiB of the daemon's peak)
        del newlines, holds, number_lines, stops
        for end in ends:
            yield run_start, end[0], first_line
            run_start, first_line = end
    if open_line:  # a number on a last line without a newline: it may start a chunk of its own
        last = cutter.starts(np.array([open_length.digits])) if cutter.needs_lengths \
            else cutter.starts(1)
        if last:
            yield run_start, after_last[0], first_line
            run_start, first_line = after_last
    if offset > run_start and (after_last[0] > run_start or open_line or run_start == 0):
        yield run_start, offset, first_line


def _chunk_starts(cutter: Union[_ByCount, _ByCost], data: np.ndarray, newlines: np.ndarray,
                  number_lines: np.ndarray,
                  open_length: _LineLength) -> tuple[list[int], _LineLength]:
    """Which of the numbers on the lines that end in `data` (`number_lines`, indices among
    them) start a chunk, as `cutter` cuts them; and what is known of the line left open."""
    if not cutter.needs_lengths:
        return cutter.starts(len(number_lines)), open_length
    lengths, open_length = _number_lengths(data, newlines, open_length)
    return cutter.starts(lengths[number_lines]), open_length


class _LineLength(NamedTuple):
    """What is known of the line left open at the end of a block: the digits it has
    before any comment, and whether a comment has begun on it."""

    digits: int
    commented: bool


def _number_lengths(data: np.ndarray, newlines: np.ndarray,
                    open_length: _LineLength) -> tuple[np.ndarray, _LineLength]:
    """The digits each line that ends in `data` has before any `#` comment (its number's
    length, on a line that holds one), the first going on from the line left open by the
    data before; and what is known of the line left open at the end of `data`."""
    import numpy as np

    starts = np.concatenate(([0], newlines + 1))
    stops = np.append(newlines, len(data))
    if np.count_nonzero(data < _ZERO_BYTE) == len(newlines):  # the common case: plain lines
        lengths = stops - starts
        hashed = False
    else:
        digit = (data >= _ZERO_BYTE) & (data <= _NINE_BYTE)
        digits_before = np.concatenate(([0], np.cumsum(digit)))
        hashes = np.append(np.flatnonzero(data == _COMMENT_BYTE), len(data))
        comment_at = hashes[np.searchsorted(hashes, starts)]
        lengths = digits_before[np.minimum(comment_at, stops)] - digits_before[starts]
        hashed = bool(comment_at[-1] < len(data))
    if open_length.commented:
        lengths[0] = open_length.digits
    else:
        lengths[0] += open_length.digits
    after = _LineLength(int(lengths[-1]), hashed or (open_length.commented and not len(newlines)))
    return lengths[:-1], after


@functools.cache
def _blank_bytes() -> np.ndarray:
    """For each byte value, whether it is one of _BLANKS."""
    import numpy as np

    blank = np.zeros(256, dtype=bool)
    blank[list(_BLANKS)] = True
    return blank


def _lines_holding_numbers(data: np.ndarray, newlines: np.ndarray,
                           open_line: Optional[bool]) -> tuple[np.ndarray, Optional[bool]]:
    """Whether each line that ends in `data` (at `newlines`) holds a number (something
    other than blanks, and not a `#` comment), the first one going on from the line left
    open by the data before (`open_line`: known, or None if nothing but blanks so far);
    and the same of the line left open at its end."""
    import numpy as np

    plain = np.count_nonzero(data < _ZERO_BYTE) == len(newlines)  # no blank, no comment
    if plain and not (np.diff(newlines) == 1).any():
        holds = np.ones(len(newlines), dtype=bool)  # the common case: a number every line
        if len(holds) and (open_line is not None or data[0] == _NEWLINE_BYTE):
            holds[0] = bool(open_line)  # the line going on, or an empty one
        ends_open = data[-1] != _NEWLINE_BYTE
        return holds, ((open_line if not len(newlines) and open_line is not None else True)
                       if ends_open else None)
    filled = np.flatnonzero(~_blank_bytes()[data])  # where something other than blanks is
    starts = np.concatenate(([0], newlines + 1))
    stops = np.append(newlines, len(data))
    at = np.searchsorted(filled, starts)
    first = np.append(filled, len(data))[at]  # each line's first filled byte, if before its stop
    seen = first < stops
    holds = seen & (np.append(data, _NEWLINE_BYTE)[first] != _COMMENT_BYTE)
    if open_line is not None:
        seen[0], holds[0] = True, open_line
    return holds[:-1], (bool(holds[-1]) if seen[-1] else None)
