"""Cutting a job's numbers into chunks, streamed: no job is ever held whole.

A chunk is what one worker call handles: `chunksize` numbers of the job, as a
compact payload. A numbers file is not read by the daemon beyond finding line
boundaries: each chunk names a byte range of the file and the worker reads and
parses its own range. A range job's chunk is a (start, stop) pair.

The numbers file format: one non-negative decimal integer a line; blank lines
and `#` comments (whole-line or after a number) are allowed.

numpy is imported by the functions that need it, when first called: `runner submit`
checks and counts a small numbers file with bytes methods alone, in less time than
numpy's import takes (about 40 ms).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Union

from .job import Job
from .numbers import INT_STR_SAFE_DIGITS, U64_LIMIT, max_decimal_digits, parse_decimal

if TYPE_CHECKING:
    import numpy as np

READ_BLOCK_BYTES = 1 << 20
# texts up to this size are checked in bytes methods, which take at most about a
# millisecond here: importing numpy would cost more than numpy saves on them
BYTES_CHECK_MAX = 1 << 16
_DESCRIBE_BITS = 128  # bigger numbers are named by their offset in messages
_COMMENT = re.compile(rb"#[^\n]*")
_NUMBER_LINE = re.compile(rb"^[ \t\r\v\f]*[^ \t\r\n\v\f#]", re.M)  # a line a number is on
_DIGITS_AND_NEWLINES = b"0123456789\r\n"
_NEWLINE_BYTE = ord("\n")
_ZERO_BYTE = ord("0")  # the bytes below it, but newlines, are blanks, "#" and punctuation
_NINE_BYTE = ord("9")
_COMMENT_BYTE = ord("#")
_BLANKS = b" \t\r\v\f\n"  # what a line may hold besides its number


def count_digit_lines(text: bytes) -> Optional[int]:
    """How many lines `text` has if every one is digits, else None (a C-speed check, no
    Python per line)."""
    if text.translate(None, _DIGITS_AND_NEWLINES):
        return None
    ends_open = not text.endswith(b"\n") and len(text) > 0  # a last line without newline
    if b"\r" in text:  # rare: each \r must then end a line, just before its \n
        clean = (b"\n\n" not in text and b"\n\r" not in text
                 and not text.startswith((b"\n", b"\r"))
                 and text.count(b"\r") == text.count(b"\r\n"))
        return text.count(b"\n") + ends_open if clean else None
    # no blank line: two newlines side by side, or one first
    if len(text) <= BYTES_CHECK_MAX:
        return None if text.startswith(b"\n") or b"\n\n" in text else text.count(b"\n") + ends_open
    # numpy: bytes.find is slow for a two-byte pattern whose first byte is every twentieth
    import numpy as np

    newline = np.frombuffer(text, dtype=np.uint8) == _NEWLINE_BYTE
    if newline[0] or (newline[1:] & newline[:-1]).any():
        return None
    return int(np.count_nonzero(newline)) + ends_open


@dataclass(frozen=True)
class NumbersPayload:
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class FilePayload:
    path: str
    start_byte: int
    stop_byte: int
    first_line: int
    max_bits: int


@dataclass(frozen=True)
class TextPayload:
    """A numbers file's byte range, read in: for a worker that cannot see the file."""

    text: bytes
    first_line: int
    max_bits: int


@dataclass(frozen=True)
class RangePayload:
    start: int
    stop: int


Payload = Union[NumbersPayload, FilePayload, TextPayload, RangePayload]


def read_lines(payload: FilePayload) -> TextPayload:
    """The lines a FilePayload names, as they are in the file."""
    with open(payload.path, "rb") as handle:
        handle.seek(payload.start_byte)
        text = handle.read(payload.stop_byte - payload.start_byte)
    return TextPayload(text, payload.first_line, payload.max_bits)


def numbers_of(payload: Payload, block: int = 1 << 16) -> Iterator[list[int]]:
    """The payload's numbers, in order, as lists of at most a piece of a file or `block`
    numbers of a range: a task sees its chunk a part at a time, memory stays small."""
    if isinstance(payload, RangePayload):
        for first in range(payload.start, payload.stop, block):
            yield list(range(first, min(first + block, payload.stop)))
    elif isinstance(payload, NumbersPayload):
        yield list(payload.numbers)
    else:
        pieces = read_pieces(payload) if isinstance(payload, FilePayload) else [payload]
        for piece in pieces:
            numbers = parse_numbers(piece)
            yield numbers if isinstance(numbers, list) else numbers.tolist()


def read_pieces(payload: FilePayload) -> Iterator[TextPayload]:
    """The lines a FilePayload names, as they are in the file, in pieces of at most two
    READ_BLOCK_BYTES that end where a line ends (unless a line is longer than that):
    a worker holds one piece at a time, however many numbers its chunk has."""
    first_line = payload.first_line
    left = payload.stop_byte - payload.start_byte
    parts: list[bytes] = []  # read, not yet in a piece: the start of a line that goes on
    with open(payload.path, "rb") as handle:
        handle.seek(payload.start_byte)
        while left > 0:
            block = handle.read(min(READ_BLOCK_BYTES, left))
            left = left - len(block) if block else 0  # a file cut short ends the range
            cut = len(block) if left == 0 else block.rfind(b"\n") + 1
            if cut == 0 and left > 0:
                parts.append(block)
                continue
            piece = b"".join(parts) + block[:cut] if parts else block[:cut]
            parts = [block[cut:]]
            if piece:
                yield TextPayload(piece, first_line, payload.max_bits)
                first_line += piece.count(b"\n")


@dataclass(frozen=True)
class Chunk:
    """One unit of work: its place in the job (`index`) and what the worker gets."""

    index: int
    payload: Payload

    def describe(self, job: Job) -> str:
        """Where the chunk's numbers are, for error messages."""
        payload = self.payload
        if isinstance(payload, RangePayload):
            first, last = payload.start, payload.stop - 1
            if last.bit_length() > _DESCRIBE_BITS:  # say where, not the huge numbers
                offset = first - job.range[0]
                return (f"chunk {self.index} (the range's numbers start+{offset} to "
                        f"start+{offset + last - first})")
            return f"chunk {self.index} (numbers {first} to {last} of the range)"
        if isinstance(payload, FilePayload):
            return (f"chunk {self.index} ({job.numbers_file_shown} from line {payload.first_line}, "
                    f"bytes {payload.start_byte}-{payload.stop_byte})")
        first = self.index * job.chunksize
        return f"chunk {self.index} (numbers[{first}] to numbers[{first + len(payload.numbers) - 1}])"


def longest_number_digits(path: Path) -> int:
    """The most characters a number has among the first READ_BLOCK_BYTES of a numbers file
    (comments and blanks left out): how big its numbers are, from a sample that costs one
    read."""
    with open(path, "rb") as handle:
        head = handle.read(READ_BLOCK_BYTES)
    if b"#" in head:
        head = _COMMENT.sub(b"", head)
    return max(map(len, head.split()), default=0)


def holds_only_short_digit_lines(path: Path, max_digits: int) -> bool:
    """Whether the file is nothing but lines of digits, none longer than `max_digits`:
    then every line is a number the workers accept, and none need be parsed to know it
    (one numpy pass, or bytes methods for a small file; a file with anything else, even a
    blank line, says False)."""
    if os.path.getsize(path) <= BYTES_CHECK_MAX:
        with open(path, "rb") as handle:
            text = handle.read()
        return (not text.translate(None, b"0123456789\n") and not text.startswith(b"\n")
                and b"\n\n" not in text
                and (len(text) <= max_digits or max(map(len, text.split(b"\n"))) <= max_digits))
    import numpy as np

    line = 0  # length of the line running on from the last block
    for block in _file_blocks(path):
        ends = np.flatnonzero(block == _NEWLINE_BYTE)
        if block.max() > _NINE_BYTE or np.count_nonzero(block < _ZERO_BYTE) != len(ends):
            return False  # a byte other than digits and newlines
        if not len(ends):
            line += len(block)
        else:
            lengths = np.diff(ends, prepend=-1) - 1
            lengths[0] += line
            if lengths.min() == 0 or lengths.max() > max_digits:
                return False
            line = len(block) - 1 - int(ends[-1])
        if line > max_digits:
            return False
    return True


def check_numbers_file(path: Path, max_bits: int) -> None:
    """Read every line of a numbers file as the workers will, a piece at a time (memory
    stays small however long it is); BadNumberLine names the first line they would
    refuse."""
    # the common case, told in one pass: every line a number of fewer digits than the
    # most a number of max_bits bits can have, which is within the limit (with as many,
    # 2**4096 has 4097 bits and 2**4096 - 1 has 4096: those lines are parsed)
    if holds_only_short_digit_lines(path, max_decimal_digits(max_bits) - 1):
        return
    size = os.path.getsize(path)
    for piece in read_pieces(FilePayload(str(path), 0, size, 1, max_bits)):
        parse_numbers(piece)


def count_numbers_in_file(path: Path) -> int:
    """How many lines of the numbers file hold something other than blanks or a comment."""
    if os.path.getsize(path) <= BYTES_CHECK_MAX:
        return _count_lines_by_pattern(path)  # bytes methods and a pattern: no numpy
    plain = _count_plain_lines(path)
    return plain if plain is not None else _count_lines_by_pattern(path)


def _count_plain_lines(path: Path) -> Optional[int]:
    """The count of non-empty lines, in numpy, if no byte of the file but newlines is
    below b"0" (no blank but empty lines, no comment: the common case), else None."""
    import numpy as np

    lines = 0
    after_newline = True  # the file's first byte starts a line
    for block in _file_blocks(path):
        newline = block == _NEWLINE_BYTE
        if np.count_nonzero(block < _ZERO_BYTE) != np.count_nonzero(newline):
            return None
        # a line starts at each byte that is not a newline and follows one
        lines += np.count_nonzero(newline[:-1] > newline[1:]) + (after_newline and not newline[0])
        after_newline = bool(newline[-1])
    return int(lines)


def _count_lines_by_pattern(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        while block := handle.read(READ_BLOCK_BYTES):
            while b"\n" not in block and (more := handle.read(READ_BLOCK_BYTES)):
                block += more  # a line longer than a block: read it whole
            count += _count_number_lines(block)
            tail = len(block) - block.rfind(b"\n") - 1  # a last line that may go on
            if 0 < tail < len(block):  # the next read starts it again: not counted here
                handle.seek(-tail, os.SEEK_CUR)
                count -= _count_number_lines(block[-tail:])
    return count


def _count_number_lines(text: bytes) -> int:
    count = count_digit_lines(text)  # the common case, a number on every line: count fast
    return len(_NUMBER_LINE.findall(text)) if count is None else count


def _file_blocks(path: Union[str, Path]) -> Iterator[np.ndarray]:
    """The file's bytes, READ_BLOCK_BYTES at a time, each block a uint8 view of one
    buffer that the next read overwrites (so reading a big file allocates nothing)."""
    import numpy as np

    buffer = bytearray(READ_BLOCK_BYTES)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            yield np.frombuffer(buffer, dtype=np.uint8, count=size)


def plan_chunks(job: Job, root: Path, max_bits: int) -> Iterator[Chunk]:
    """Every chunk of `job`, in input order, made lazily as the caller asks for them."""
    if job.numbers is not None:
        for index, first in enumerate(range(0, len(job.numbers), job.chunksize)):
            yield Chunk(index, NumbersPayload(job.numbers[first:first + job.chunksize]))
    elif job.range is not None:
        start, stop = job.range
        for index, first in enumerate(range(start, stop, job.chunksize)):
            yield Chunk(index, RangePayload(first, min(first + job.chunksize, stop)))
    else:
        path = str(root / job.numbers_file)
        for index, (begin, end, line) in enumerate(_number_blocks(path, job.chunksize)):
            yield Chunk(index, FilePayload(path, begin, end, line, max_bits))


def _number_blocks(path: str, numbers_per_block: int) -> Iterator[tuple[int, int, int]]:
    """(start byte, stop byte, first line number) of each run of `numbers_per_block`
    numbers: blank lines and comments count for nothing. A run ends with the line of its
    last number; the blank and comment lines after it open the next run."""
    import numpy as np

    block_start = 0  # byte offset where the run being gathered starts
    first_line = 1  # the line it starts on
    in_block = 0  # numbers in it so far
    lines_seen = 0  # whole lines before `data`
    open_line: Optional[bool] = None  # whether the line running on into the next data holds a number
    offset = 0  # byte offset of `data` in the file
    for data in _file_blocks(path):
        newlines = np.flatnonzero(data == _NEWLINE_BYTE)
        holds, open_line = _lines_holding_numbers(data, newlines, open_line)
        number_lines = np.flatnonzero(holds)
        need = numbers_per_block - in_block
        ends = number_lines[need - 1::numbers_per_block]
        for line in ends.tolist():
            stop = offset + int(newlines[line]) + 1
            yield block_start, stop, first_line
            block_start, first_line = stop, lines_seen + line + 2
        if len(ends):
            in_block = len(number_lines) - need - (len(ends) - 1) * numbers_per_block
        else:
            in_block += len(number_lines)
        lines_seen += len(newlines)
        offset += len(data)
    if offset > block_start and (in_block or open_line or block_start == 0):
        yield block_start, offset, first_line


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


# -- reading a numbers file's text, as the workers do ------------------------------------

_DECIMAL = re.compile(rb"[0-9]+")
_U64_MAX = U64_LIMIT - 1


class BadNumberLine(ValueError):
    """A line of a numbers file that is not a number the runner accepts."""

    def __init__(self, line: int, text: str, what: str):
        super().__init__(line, text, what)
        self.line, self.text, self.what = line, text, what

    def __str__(self) -> str:
        return f"line {self.line}: {self.text!r} {self.what}"


def parse_numbers(payload: TextPayload) -> Union[np.ndarray, list[int]]:
    """The numbers of the payload's byte range: a uint64 array in the common case (plain
    lines of digits, every number below 2^64 and within the bit limit), else a list.
    BadNumberLine names the first line that is not a number the runner accepts."""
    data = payload.text
    lines = count_digit_lines(data)
    if lines is not None:
        array = _parse_u64_lines(data, lines, payload.max_bits)
        if array is not None:
            return array
        tokens = data.split()
        longest = max(map(len, tokens), default=0)
        if longest < max_decimal_digits(payload.max_bits) and longest <= INT_STR_SAFE_DIGITS:
            return list(map(int, tokens))  # no number can be over the limit: no check each
    return _read_numbers_line_by_line(data, payload)


def _parse_u64_lines(data: bytes, lines: int, max_bits: int) -> Optional[np.ndarray]:
    """The numbers of `data` (`lines` lines of digits only, as `count_digit_lines` found)
    parsed in C by numpy, or None when the fast path cannot vouch for them: a carriage
    return, or a number at or over 2^64 - 1 (numpy's parser saturates there, so the result
    would be ambiguous), or over `max_bits` (the caller's line-by-line path then says
    which line)."""
    if b"\r" in data or not data:
        return None
    import numpy as np

    array = np.fromstring(data, dtype=np.uint64, sep="\n")
    if len(array) != lines:
        return None
    top = int(array.max())
    if top == _U64_MAX or top.bit_length() > max_bits:
        return None
    return array


def _read_numbers_line_by_line(data: bytes, payload: TextPayload) -> list[int]:
    numbers = []
    over_limit = f"over limits.number_bits = {payload.max_bits}"
    for line_number, raw in enumerate(data.split(b"\n"), start=payload.first_line):
        text = raw.split(b"#", 1)[0].strip()
        if not text:
            continue
        shown = text.decode("utf-8", "replace")
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        if not _DECIMAL.fullmatch(text):
            what = "is negative" if text.startswith(b"-") and _DECIMAL.fullmatch(text[1:]) else \
                "is not a plain decimal integer"
            raise BadNumberLine(line_number, shown, what)
        digits = text.lstrip(b"0") or b"0"
        if len(digits) > max_decimal_digits(payload.max_bits):
            raise BadNumberLine(line_number, shown, f"has {len(digits)} digits, {over_limit}")
        number = parse_decimal(digits.decode())
        if number.bit_length() > payload.max_bits:
            raise BadNumberLine(line_number, shown, f"has {number.bit_length()} bits, {over_limit}")
        numbers.append(number)
    return numbers
