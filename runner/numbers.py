"""The numbers a job tests, as text: how long a number of so many bits can be, how its
decimal digits become an integer, however long, and a numbers file read in pieces of
whole lines. Light on purpose (no numpy, gmpy2 only for very long numbers, no dataclass),
so that `runner submit` checks a job file and a small numbers file quickly."""

from __future__ import annotations

import math
import sys
from typing import Iterator

U64_LIMIT = 1 << 64  # below it, numbers go through numpy and FLINT; from it, gmpy2
INT_STR_SAFE_DIGITS = 4000  # int() refuses strings past 4300 digits (CVE-2020-10735)
READ_BLOCK_BYTES = 1 << 20  # a worker, and the door, read a numbers file this much at a time


class BadNumberLine(ValueError):
    """A line of a numbers file that is not a number the runner accepts."""

    def __init__(self, line: int, text: str, what: str):
        super().__init__(line, text, what)
        self.line, self.text, self.what = line, text, what

    def __str__(self) -> str:
        return f"line {self.line}: {self.text!r} {self.what}"


def whole_line_pieces(path: str, start_byte: int, stop_byte: int) -> Iterator[bytes]:
    """The file's bytes from `start_byte` to `stop_byte`, in pieces of at most two
    READ_BLOCK_BYTES that end where a line ends (unless a line is longer than that):
    a reader holds one piece at a time, however long the file."""
    left = stop_byte - start_byte
    parts: list[bytes] = []  # read, not yet in a piece: the start of a line that goes on
    with open(path, "rb") as handle:
        handle.seek(start_byte)
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
                yield piece


def allow_long_integers() -> None:
    """Let this process turn integers of any length to and from text. Python caps that
    at 4300 digits against denial of service; the runner checks every number's length
    against limits.number_bits before converting it, which is the same protection."""
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)


def max_decimal_digits(bits: int) -> int:
    """The most decimal digits (without leading zeros) a number of `bits` bits can have."""
    return math.floor(bits * math.log10(2)) + 1


def decimal_digits(number: int) -> int:
    """How many decimal digits a number from 0 up has, without turning it into text."""
    digits = max_decimal_digits(number.bit_length())
    return digits - 1 if digits > 1 and number < 10 ** (digits - 1) else digits


def parse_decimal(digits: str) -> int:
    """The integer a string of decimal digits spells, however long (checked by the caller
    against a digit limit first: conversion time grows with the square of the length)."""
    if len(digits) <= INT_STR_SAFE_DIGITS:
        return int(digits)
    import gmpy2  # GMP converts long strings in subquadratic time

    return int(gmpy2.mpz(digits))
