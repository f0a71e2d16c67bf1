"""The primes of a range below 2^64 by a segmented sieve of Eratosthenes, in numpy,
and their decimal text without a Python object per number.

The range is cut into segments that fit in a core's L2 cache; each holds one byte
per odd number. Multiples of 3..17 are copied in from a precomputed pattern,
primes below `_SLICE_BELOW` strike their multiples by slice assignment, and the
rest by vectorised index arithmetic (the ragged-arange trick: a cumulative sum
over repeated steps), so no Python loop runs over the many large base primes.

Exactness, for every range below 2^64. A composite n has a prime factor <= isqrt(n),
so a range sieved with every prime up to isqrt(stop - 1) holds exactly its primes:
that is done when those base primes are at most `BASE_PRIME_CAP` and few next to
the range's width (`_sieve_limit`). Otherwise (always for stop past about 2^50, the
cap squared) the sieve stops at a lower limit L, the survivors below (L + 1)^2 are
prime for the same reason, and each one above is confirmed by `primes_mask_u64`,
exact below 2^64 as well (see there).
The cap bounds a worker's memory: each process keeps its base primes, at most 2.06
million (16 MiB), and segments walk them in blocks.
"""

from __future__ import annotations

import ctypes
import math

import flint
import numpy as np

from ..numbers import U64_LIMIT

BASE_PRIME_CAP = 1 << 25
from .builtin import SIEVE_SEGMENT_NUMBERS  # the numbers one segment covers

_SEGMENT_ODDS = SIEVE_SEGMENT_NUMBERS // 2  # odd numbers per segment: 512 KiB of flags
_BLOCK_PRIMES = 1 << 16  # base primes handled at once (bounds temporaries)
_SLICE_BELOW = 1 << 12  # base primes below this strike by slice assignment
_FULL_SIEVE_PER_NUMBER = 512  # see _sieve_limit
_PARTIAL_SIEVE_PER_NUMBER = 4
_PARTIAL_SIEVE_MIN = 1 << 12
_PATTERN_PRIMES = (3, 5, 7, 11, 13, 17)
_PERIOD = math.prod(_PATTERN_PRIMES)  # the pattern repeats every _PERIOD odd numbers

_M_TOP_PAD = -2  # glibc's mallopt parameter: freed heap kept instead of returned to the OS
_KEEP_FREED_BYTES = 16 << 20

_base = np.zeros(0, dtype=np.uint64)  # the odd primes <= _base_limit, this process's cache
_base_limit = 0
_pattern: np.ndarray | None = None


def primes_in_range(start: int, stop: int) -> np.ndarray:
    """The primes p with start <= p < stop, ascending, as uint64; stop <= 2^64."""
    if stop > U64_LIMIT:
        raise ValueError(f"stop = {stop} is over 2^64")
    start = max(start, 0)
    if stop <= start:
        return np.zeros(0, dtype=np.uint64)
    limit = math.isqrt(stop - 1)
    sieve_limit = _sieve_limit(limit, min(stop - start, 2 * _SEGMENT_ODDS))
    base = _base_primes(sieve_limit)
    parts = [np.array([2], dtype=np.uint64)] if start <= 2 < stop else []
    first_odd = max(start | 1, 3)
    for low in range(first_odd, stop, 2 * _SEGMENT_ODDS):
        parts.append(_sieve_segment(low, min((stop - low + 1) // 2, _SEGMENT_ODDS), base))
    primes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    if sieve_limit < limit:
        primes = _confirm_above(primes, (sieve_limit + 1) ** 2)
    return primes


def _sieve_limit(limit: int, width: int) -> int:
    """How far to sieve segments of `width` numbers whose composites all have a prime
    factor <= limit. Each base prime costs some nanoseconds per segment, each number
    left for `primes_mask_u64` a fraction of a microsecond (one for a prime): so sieve all
    the way when the base primes are few next to the width, else only to a few times
    the width, testing the survivors."""
    if limit <= min(BASE_PRIME_CAP, _FULL_SIEVE_PER_NUMBER * width):
        return limit
    return min(limit, BASE_PRIME_CAP, max(_PARTIAL_SIEVE_MIN, _PARTIAL_SIEVE_PER_NUMBER * width))


def _sieve_segment(low: int, count: int, base: np.ndarray) -> np.ndarray:
    """The primes among the `count` odd numbers low, low + 2, ... (low odd, >= 3)."""
    high = low + 2 * count  # past the last number
    flags = _pattern_flags(low, count)
    for p in _PATTERN_PRIMES:  # the pattern struck these primes themselves
        if low <= p < high:
            flags[(p - low) // 2] = True
    used = base[:_count_upto(base, math.isqrt(high - 1))]
    used = used[_count_upto(used, _PATTERN_PRIMES[-1]):]
    for block in range(0, len(used), _BLOCK_PRIMES):
        _strike(flags, low, used[block:block + _BLOCK_PRIMES])
    primes = np.flatnonzero(flags).view(np.uint64)
    primes *= np.uint64(2)
    primes += np.uint64(low)
    return primes


def _strike(flags: np.ndarray, low: int, primes: np.ndarray) -> None:
    """Clear the flags of the odd multiples m >= p*p of each of `primes` (ascending)."""
    count = len(flags)
    first = _first_multiples(low, primes)
    sliced = _count_upto(primes, min(_SLICE_BELOW, count) - 1)
    several = _count_upto(primes, count - 1)  # primes below count may hit several times
    for p, index in zip(primes[:sliced].tolist(), first[:sliced].tolist()):
        flags[index::p] = False
    once = first[several:]  # primes >= count hit at most once
    flags[once[once < count]] = False
    steps, first = primes[sliced:several].view(np.int64), first[sliced:several]
    if not len(steps):
        return
    hits = (count - 1 - first) // steps + 1  # all >= 1: first < count
    lasts = first + (hits - 1) * steps
    jumps = np.repeat(steps, hits)  # one step per hit; each prime's first hit jumps from
    starts = np.cumsum(hits) - hits  # the previous prime's last one to its own first
    jumps[starts] = first - np.concatenate(([0], lasts[:-1]))
    flags[np.cumsum(jumps)] = False


def _first_multiples(low: int, primes: np.ndarray) -> np.ndarray:
    """For each prime p, the index (n - low) / 2 of the least odd multiple n >= p*p of p
    with n >= low (low odd), as int64."""
    gap = primes - np.uint64(low) % primes  # n = low + gap is a multiple of p
    gap[gap == primes] = 0
    first = (gap + (gap & np.uint64(1)) * primes) >> np.uint64(1)  # make n odd
    late = _count_upto(primes, math.isqrt(low))  # from here on p*p > low
    squares = primes[late:] * primes[late:]
    first[late:] = (squares - np.uint64(low)) >> np.uint64(1)
    return first.view(np.int64)


def _pattern_flags(low: int, count: int) -> np.ndarray:
    """Flags for the odd numbers low, low + 2, ...: False for the multiples of 3..17."""
    global _pattern
    if _pattern is None:  # this process's first segment
        _keep_freed_memory()
        _pattern = np.ones(_PERIOD + _SEGMENT_ODDS, dtype=bool)  # index i is 2i + 1
        for p in _PATTERN_PRIMES:
            _pattern[p // 2::p] = False
    phase = (low // 2) % _PERIOD
    return _pattern[phase:phase + count].copy()


def _keep_freed_memory() -> None:
    """Have glibc keep up to 16 MiB of freed heap rather than hand it back to the OS: each
    segment's temporaries then reuse the same pages instead of page-faulting in fresh ones,
    which (measured) costs as much as the sieving itself. A no-op without glibc."""
    try:
        ctypes.CDLL(None).mallopt(_M_TOP_PAD, _KEEP_FREED_BYTES)
    except (OSError, AttributeError):
        pass


def _base_primes(limit: int) -> np.ndarray:
    """The odd primes <= limit, ascending, uint64; sieved once per process and grown (to
    the next power of two) when a larger limit is asked for."""
    global _base, _base_limit
    if limit > _base_limit:
        _base_limit = min(max(1 << 16, 1 << (limit - 1).bit_length()), BASE_PRIME_CAP)
        odd = np.ones(_base_limit // 2, dtype=bool)  # index i is 2i + 1 < _base_limit
        odd[0] = False
        for i in range(1, (math.isqrt(_base_limit) - 1) // 2 + 1):
            if odd[i]:
                p = 2 * i + 1
                odd[p * p // 2::p] = False
        _base = np.flatnonzero(odd).view(np.uint64)  # in place from here: a lower peak
        _base *= np.uint64(2)
        _base += np.uint64(1)
    return _base[:_count_upto(_base, limit)]


def _count_upto(ascending: np.ndarray, value: int) -> int:
    """How many of the uint64 `ascending` are <= value (a uint64 key: a Python int key
    would have numpy convert the whole array first)."""
    return int(np.searchsorted(ascending, np.uint64(value), side="right"))


def _confirm_above(candidates: np.ndarray, bound: int) -> np.ndarray:
    """`candidates` less those >= bound that `primes_mask_u64` rejects."""
    split = _count_upto(candidates, bound - 1)
    big = candidates[split:]
    return np.concatenate((candidates[:split], big[primes_mask_u64(big)]))


def primes_mask_u64(values: np.ndarray) -> np.ndarray:
    """Which of the uint64 `values` are prime, exactly: FLINT's `n_is_prime` (through
    python-flint), a Baillie-PSW test checked against Feitsma and Galway's table of
    every base-2 pseudoprime below 2^64, so a proof there. On a 64-bit prime it is
    about 4 times as fast as `gmpy2.is_prime`, which spends most of its time in GMP's
    Lucas test (on a composite about half as fast: making each number an fmpz costs)."""
    fmpz = flint.fmpz
    return np.fromiter((fmpz(n).is_prime() for n in values.tolist()), dtype=bool,
                       count=len(values))


_QUAD = np.uint64(10_000)
_QUADS = (np.arange(10_000)[:, None] // np.array([1000, 100, 10, 1]) % 10 + ord("0")).astype(
    np.uint8).view(np.uint32)[:, 0]  # _QUADS[n] is the 4 bytes of "%04d" % n
_NEWLINE = np.frombuffer(b"\n\0\0\0", dtype=np.uint32)[0]
_POWERS = [10**k for k in range(20)]
_FORMAT_BLOCK = 1 << 16  # numbers formatted at once, so that their temporaries stay small


def format_lines(numbers: np.ndarray) -> bytes:
    """`numbers` (integers in [0, 2^64)) in decimal, b"n\\n" each, in order: the digits are
    cut four at a time with numpy and looked up in a table, no Python object per number."""
    numbers = np.asarray(numbers, dtype=np.uint64)
    return b"".join(_format_block(numbers[first:first + _FORMAT_BLOCK])
                    for first in range(0, len(numbers), _FORMAT_BLOCK))


def _format_block(numbers: np.ndarray) -> bytes:
    shortest, longest = (len(str(int(n))) for n in (numbers.min(), numbers.max()))
    quads = -(-longest // 4)
    table = np.empty((len(numbers), quads + 1), dtype=np.uint32)  # a row: digits, newline
    table[:, quads] = _NEWLINE
    rest = numbers
    for column in range(quads - 1, -1, -1):
        above = rest // _QUAD
        table[:, column] = _QUADS.take((rest - above * _QUAD).view(np.int64))
        rest = above
    text = table.view(np.uint8)[:, :4 * quads + 1]
    if shortest == longest:
        return text[:, 4 * quads - longest:].tobytes()
    widths = np.full(len(numbers), shortest)
    for power in _POWERS[shortest:longest]:
        widths += numbers >= np.uint64(power)
    return text[np.arange(4 * quads + 1) >= 4 * quads - widths[:, None]].tobytes()
