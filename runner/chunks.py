"""Chunks: what one worker call handles, as a compact payload, and how a worker reads
its numbers (the chunk plan, which cuts a job into chunks, is plan.py).

A numbers file's chunk names a byte range of the file, which the worker reads and parses
itself, a piece at a time; a range job's chunk is a (start, stop) pair; inline numbers
travel in the payload.

The numbers file format: one non-negative decimal integer a line; blank lines
and `#` comments (whole-line or after a number) are allowed.

numpy is imported by the functions that need it, when first called: `runner submit`
checks and counts a small numbers file with bytes methods alone, in less time than
numpy's import takes (about 40 ms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional, Union

from .numbers import (INT_STR_SAFE_DIGITS, U64_LIMIT, BadNumberLine, max_decimal_digits,
                      parse_decimal, whole_line_pieces)
from .spec import Job

if TYPE_CHECKING:
    import numpy as np

# texts up to this size are checked in bytes methods, which take at most about a
# millisecond here: importing numpy would cost more than numpy saves on them
BYTES_CHECK_MAX = 1 << 16
_DESCRIBE_BITS = 128  # bigger numbers are named by their offset in messages
_DIGITS_AND_NEWLINES = b"0123456789\r\n"
_NEWLINE_BYTE = ord("\n")


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
    first: int = 0  # where they start in the job's numbers


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
    numbers.READ_BLOCK_BYTES that end where a line ends (unless a line is longer than
    that): a worker holds one piece at a time, however many numbers its chunk has."""
    first_line = payload.first_line
    for piece in whole_line_pieces(payload.path, payload.start_byte, payload.stop_byte):
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
        first = payload.first
        return f"chunk {self.index} (numbers[{first}] to numbers[{first + len(payload.numbers) - 1}])"


# -- reading a numbers file's text, as the workers do ------------------------------------

_DECIMAL = re.compile(rb"[0-9]+")
_U64_MAX = U64_LIMIT - 1


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
