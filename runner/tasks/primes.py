"""The built-in task: which numbers of a chunk are prime (the book's case study).

Runs in the worker processes. `test_chunk` takes a chunk's payload and returns
the count of numbers tested, the count of primes, and the primes as text, one a
line, in input order: the daemon appends that text to the job's output as it is,
so it never makes a Python object per number.

`gmpy2.is_prime` (GMP 6.2 and later's `mpz_probab_prime_p` with gmpy2's default
25 reps): trial division, a Baillie-PSW test, then reps-24 = 1 Miller-Rabin round
with a random base. Baillie-PSW has no counterexample below 2^64, so the answer
is exact there; above, no BPSW pseudoprime is known, and the Miller-Rabin round
alone bounds the chance of a wrong "prime" by 1/4 per composite that passed BPSW.
"""

from __future__ import annotations

import re

import gmpy2

from ..chunks import FilePayload, NumbersPayload, Payload, RangePayload

_DECIMAL = re.compile(rb"[0-9]+")


class BadNumberLine(ValueError):
    """A line of a numbers file that is not a number the runner accepts."""

    def __init__(self, line: int, text: str, what: str):
        super().__init__(line, text, what)
        self.line, self.text, self.what = line, text, what

    def __str__(self) -> str:
        return f"line {self.line}: {self.text!r} {self.what}"


def test_chunk(payload: Payload) -> tuple[int, int, bytes]:
    """(numbers tested, primes found, the primes as b"p\\n" lines in input order)."""
    if isinstance(payload, RangePayload):
        numbers = range(payload.start, payload.stop)
    elif isinstance(payload, NumbersPayload):
        numbers = payload.numbers
    else:
        numbers = _read_numbers(payload)
    primes = [n for n in numbers if gmpy2.is_prime(n)]
    text = "".join(f"{p}\n" for p in primes).encode()
    return len(numbers), len(primes), text


def _read_numbers(payload: FilePayload) -> list[int]:
    with open(payload.path, "rb") as handle:
        handle.seek(payload.start_byte)
        data = handle.read(payload.stop_byte - payload.start_byte)
    numbers = []
    for line_number, raw in enumerate(data.split(b"\n"), start=payload.first_line):
        text = raw.split(b"#", 1)[0].strip()
        if not text:
            continue
        if not _DECIMAL.fullmatch(text):
            shown = text.decode("utf-8", "replace")[:40]
            what = "is negative" if text.startswith(b"-") and _DECIMAL.fullmatch(text[1:]) else \
                "is not a plain decimal integer"
            raise BadNumberLine(line_number, shown, what)
        number = int(text)
        if number.bit_length() > payload.max_bits:
            raise BadNumberLine(line_number, text[:40].decode() + "...",
                                f"has {number.bit_length()} bits, over limits.number_bits = "
                                f"{payload.max_bits}")
        numbers.append(number)
    return numbers
