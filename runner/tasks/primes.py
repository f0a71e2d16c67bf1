"""The built-in task: which numbers of a chunk are prime (the book's case study).

Runs in the worker processes. `test_chunk` takes a chunk's payload and returns
the count of numbers tested, the count of primes, and the primes as text, one a
line, in input order: the daemon appends that text to the job's output as it is,
so it never makes a Python object per number. A range below 2^64 is sieved
(sieve.py); numbers, numbers files and ranges beyond 2^64 are tested one by one.
A numbers file's plain lines are parsed by numpy into a uint64 array, filtered
by small primes and formatted back to text in numpy: only the survivors of the
filter become Python integers, for the exact test (sieve.primes_mask_u64).

Above 2^64, `gmpy2.is_prime(n)`: GMP's `mpz_probab_prime_p` (GMP 6.2 and later),
trial division, a Baillie-PSW test, then one Miller-Rabin round with a random base
(gmpy2's default 25 reps, less 24): no BPSW pseudoprime is known, and that round
alone would pass a composite with probability at most 1/4.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import flint
import numpy as np

from .. import chunk_progress
from ..chunks import FilePayload, NumbersPayload, Payload, RangePayload, parse_numbers, read_pieces
from ..numbers import U64_LIMIT
from .sieve import format_lines, primes_in_range, primes_mask_u64

# The odd primes below this are filtered out in numpy (their multiples: about 4 numbers
# in 5 of random odd ones) before the exact test, which costs a Python call per number.
_FILTER_PRIMES_BELOW = 128
_FILTER_MODULUS_MAX = 1 << 16  # each group's table of residues: at most 64 KiB, 0.1 MiB in all
# (tables of up to 1 MiB took 2.4 MiB of every worker and filtered no faster: 2M odd 64-bit
# numbers in 61-76 ms either way)


def _coprime_tables() -> list[tuple[np.uint64, np.ndarray]]:
    """The filter primes in groups, each as (m, the product of the group; a table telling
    for each residue r < m whether r, so n with n % m == r, has no prime of the group):
    one 64-bit division per group rather than per prime."""
    groups: list[list[int]] = [[]]
    for p in (p for p in range(3, _FILTER_PRIMES_BELOW) if flint.fmpz(p).is_prime()):
        if math.prod(groups[-1]) * p > _FILTER_MODULUS_MAX:
            groups.append([])
        groups[-1].append(p)
    tables = []
    for group in groups:
        coprime = np.ones(math.prod(group), dtype=bool)
        for p in group:
            coprime[::p] = False
        tables.append((np.uint64(len(coprime)), coprime))
    return tables


_COPRIME_TABLES = _coprime_tables()


def test_chunk(payload: Payload) -> tuple[int, int, bytes]:
    """(numbers tested, primes found, the primes as b"p\\n" lines in input order)."""
    if isinstance(payload, RangePayload):
        if payload.stop <= U64_LIMIT:
            primes = primes_in_range(payload.start, payload.stop)
            return payload.stop - payload.start, len(primes), format_lines(primes)
        numbers = range(payload.start, payload.stop)
    elif isinstance(payload, NumbersPayload):
        numbers = payload.numbers
    elif isinstance(payload, FilePayload):
        results = [test_chunk(piece) for piece in read_pieces(payload)]
        return (sum(tested for tested, _, _ in results), sum(found for _, found, _ in results),
                b"".join(text for _, _, text in results))
    else:
        numbers = parse_numbers(payload)
    if isinstance(numbers, np.ndarray):
        primes = primes_among_u64(numbers)
        chunk_progress.tested(len(numbers), len(primes))
        return len(numbers), len(primes), format_lines(primes)
    primes = primes_among(numbers, chunk_progress.tested)
    text = "".join(f"{p}\n" for p in primes).encode()
    return len(numbers), len(primes), text


def primes_among(numbers: Sequence[int],
                 on_tested: Callable[[int, int], None] = lambda count, found: None) -> list[int]:
    """The primes among non-negative `numbers`, in their order; `on_tested(count, found)`
    is told of the numbers done and the primes among them as it goes: each number past
    2^64 (which takes up to milliseconds) as it is done, the others at once."""
    if numbers and max(numbers) >= U64_LIMIT:
        import gmpy2  # here: a job with no number past 2^64 spares each worker 1.2 MiB

        primes = []
        for n in numbers:
            prime = gmpy2.is_prime(n)
            if prime:
                primes.append(n)
            on_tested(1, int(prime))
        return primes
    primes = primes_among_u64(np.array(numbers, dtype=np.uint64)).tolist() if numbers else []
    on_tested(len(numbers), len(primes))
    return primes


def primes_among_u64(array: np.ndarray) -> np.ndarray:
    """The primes among the uint64 `array`, in their order, as uint64."""
    big = array >= np.uint64(_FILTER_PRIMES_BELOW)
    index = np.flatnonzero(big & (array & np.uint64(1)).astype(bool))  # odd, to be filtered
    values = array[index]
    for modulus, coprime in _COPRIME_TABLES:  # each pass on the survivors of the last
        keep = coprime[values % modulus]
        index, values = index[keep], values[keep]
    small = np.flatnonzero(~big)  # the filter would drop the small primes themselves
    candidates = array[np.sort(np.concatenate((index, small)))] if len(small) else values
    return candidates[primes_mask_u64(candidates)]


