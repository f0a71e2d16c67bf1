"""The numbers a job tests, as text: how long a number of so many bits can be, and how
its decimal digits become an integer, however long. Light on purpose (no numpy, gmpy2
only for very long numbers), so that `runner submit` checks a job file quickly."""

from __future__ import annotations

import math
import sys

U64_LIMIT = 1 << 64  # below it, numbers go through numpy and FLINT; from it, gmpy2
INT_STR_SAFE_DIGITS = 4000  # int() refuses strings past 4300 digits (CVE-2020-10735)


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
