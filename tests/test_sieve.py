"""Unit tests of runner/tasks/sieve.py: the segmented sieve against independent references
(a deterministic Miller-Rabin in pure Python, and a plain unsegmented sieve for wide
ranges), and the vectorised formatter against str()."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import miller_rabin
from runner.chunks import RangePayload
from runner.tasks import sieve
from runner.tasks.primes import test_chunk as run_chunk
from runner.tasks.sieve import BASE_PRIME_CAP, format_lines, primes_in_range

# -- independent references ------------------------------------------------------------



def reference(start: int, stop: int) -> list[int]:
    return [n for n in range(max(start, 0), stop) if miller_rabin(n)]


def plain_sieve(start: int, stop: int) -> list[int]:
    """The primes of [start, stop) by one unsegmented sieve over all of it (for wide ranges)."""
    limit = math.isqrt(stop - 1)
    small = np.ones(limit + 1, dtype=bool)
    small[:2] = False
    for p in range(2, math.isqrt(limit) + 1):
        if small[p]:
            small[p * p::p] = False
    flags = np.ones(stop - start, dtype=bool)
    flags[:max(0, 2 - start)] = False
    for p in np.flatnonzero(small).tolist():
        flags[max(p * p, -(-start // p) * p) - start::p] = False
    return (np.flatnonzero(flags) + start).tolist()


def test_references_agree_with_known_facts():
    assert reference(0, 60) == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
    assert len(plain_sieve(0, 10**6)) == 78498
    assert reference(2**64 - 100, 2**64) == [2**64 - 95, 2**64 - 83, 2**64 - 59]
    assert not miller_rabin(3215031751)  # a strong pseudoprime to bases 2, 3, 5 and 7
    assert plain_sieve(10**9, 10**9 + 2000) == reference(10**9, 10**9 + 2000)


def check(start: int, stop: int) -> None:
    got = primes_in_range(start, stop)
    assert got.dtype == np.uint64
    assert got.tolist() == reference(start, stop)


# -- the sieve ---------------------------------------------------------------------------

PRIMES_FOR_SQUARES = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 1009, 4093, 4099, 65521, 65537,
                      1000003]


@pytest.mark.parametrize("start, stop", [
    (0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4), (3, 5),
    (4, 5), (0, 100), (1, 100), (2, 100), (3, 100), (5, 5), (10, 5), (17, 18), (18, 19),
    (0, 10**5), (2**32 - 3000, 2**32 + 3000), (2**32 - 5, 2**32 + 15),
    (2**64 - 10**5, 2**64), (2**64 - 1, 2**64), (2**64 - 59, 2**64 - 58), (2**64 - 60, 2**64 - 59),
    (2**63 - 2000, 2**63 + 2000),
])
def test_fixed_ranges(start, stop):
    check(start, stop)


@pytest.mark.parametrize("p", PRIMES_FOR_SQUARES)
def test_around_squares_of_primes(p):
    square = p * p
    for start, stop in [(square, square + 1), (square - 1, square), (square, square + 200),
                        (square - 200, square), (square - 100, square + 100),
                        (square + 1, square + 300), (square - 2, square + 2)]:
        check(start, stop)


def test_wide_ranges_cross_segments():
    width = 2 * sieve._SEGMENT_ODDS * 2 + 12345  # a few segments and a ragged end
    for start in (0, 1, 10**6 + 1, 10**12 - 7):
        assert primes_in_range(start, start + width).tolist() == plain_sieve(start, start + width)


@pytest.mark.parametrize("start, width", [(10**15, 70_000), (10**18, 30_000), (10**12, 1500)])
def test_full_and_partial_sieves_high_up(start, width):
    limit = math.isqrt(start + width - 1)  # 10**15 + 70_000 is sieved to isqrt: exact alone
    assert (sieve._sieve_limit(limit, width) == limit) == (start == 10**15)
    check(start, start + width)


def test_partial_sieve_confirms_survivors_past_its_square():
    low = sieve._PARTIAL_SIEVE_MIN  # 4096: a range this narrow there is sieved to it alone
    first_rough = 4099 ** 2  # the least composite without a prime factor <= 4096
    for centre in ((low + 1) ** 2, first_rough):
        for start, stop in [(centre - 4, centre + 4), (centre - 1, centre), (centre, centre + 1)]:
            assert sieve._sieve_limit(math.isqrt(stop - 1), stop - start) == low
            check(start, stop)
    square = (BASE_PRIME_CAP + 1) ** 2  # from here on, never sieved to isqrt
    check(square - 1500, square + 1500)


def test_base_prime_cache_grows_and_still_serves_small_limits(monkeypatch):
    monkeypatch.setattr(sieve, "_base", np.zeros(0, dtype=np.uint64))  # a fresh process's
    monkeypatch.setattr(sieve, "_base_limit", 0)
    for start, width, cached in [(10**6, 1000, 2**16), (10**12, 10**4, 2**20),
                                 (10**14, 2 * 10**4, 2**24), (10**6, 1000, 2**24), (0, 1000, 2**24)]:
        check(start, start + width)
        assert sieve._base_limit == cached


@pytest.mark.parametrize("magnitude", [10**6, 10**12, 10**15, 10**18])
def test_random_ranges(magnitude):
    rng = random.Random(magnitude)
    for _ in range(8):
        start = rng.randrange(magnitude, 10 * magnitude)
        check(start, start + rng.randrange(0, 3000))


@given(st.one_of(st.integers(0, 10**7), st.integers(0, 2**64 - 1)), st.integers(0, 1500))
@settings(max_examples=150, deadline=None)
def test_any_range(start, width):
    check(start, min(start + width, 2**64))


def test_stop_over_2_64_is_refused():
    with pytest.raises(ValueError):
        primes_in_range(2**64 - 10, 2**64 + 1)


def test_range_chunk_keeps_its_contract():
    start, stop = 10**12, 10**12 + 5000
    primes = reference(start, stop)
    assert run_chunk(RangePayload(start, stop)) == (
        stop - start, len(primes), "".join(f"{p}\n" for p in primes).encode())


# -- the formatter -----------------------------------------------------------------------

EDGES = [0, 1, 9, 10, 11, 99, 100, 101, 2**32 - 1, 2**32, 2**63, 2**64 - 2, 2**64 - 1]
POWERS = [v for k in range(20) for v in (10**k - 1, 10**k, 10**k + 1)]


def lines(values) -> bytes:
    return "".join(f"{v}\n" for v in values).encode()


@pytest.mark.parametrize("values", [[], [0], [2**64 - 1], EDGES, POWERS, POWERS[::-1],
                                    [10**19] * 3, [7, 10**19, 7]])
def test_format_edges(values):
    assert format_lines(np.array(values, dtype=np.uint64)) == lines(values)


def test_format_ranges_of_primes():
    for start, width in [(0, 2 * 10**6), (10**12, 10**5), (2**64 - 10**5, 10**5)]:
        primes = primes_in_range(start, start + width)  # the first: blocks of several widths
        assert format_lines(primes) == lines(primes.tolist())


@given(st.lists(st.integers(0, 2**64 - 1), max_size=60))
@settings(max_examples=200, deadline=None)
def test_format_any_values(values):
    assert format_lines(np.array(values, dtype=np.uint64)) == lines(values)
