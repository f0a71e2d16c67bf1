"""Unit tests of the built-in factor task's function (runner/tasks/builtin.py): FLINT's
complete factorisation, whichever way it is found (fmpz.factor, or ECM first from 70
bits up)."""

from __future__ import annotations

import math

import flint
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.tasks.builtin import FACTOR_ECM_FROM_BITS, factor

M61, M89 = 2**61 - 1, 2**89 - 1


def flint_s(n: int) -> list[list]:
    """fmpz.factor's factorisation, each prime once (it may give one twice)."""
    exponents: dict[int, int] = {}
    for p, e in flint.fmpz(n).factor():
        exponents[int(p)] = exponents.get(int(p), 0) + e
    return [[str(p), e] for p, e in sorted(exponents.items())]


@pytest.mark.parametrize("n", [
    0, 1, 2, 2**69 - 1, 2**69, 2**70, 2**70 + 1,
    M89, M89**2, 3**5 * M61**3 * M89,  # ECM leaves a composite part holding a prime cubed
    (2**24 - 3) ** 4 * M61,  # the largest prime under 2^24, to the 4th
    (2**31 - 1) * M61 * M89,  # no factor under 2^24
    460325**2 * 1303398846489716064256,  # fmpz.factor gives 18413 twice
    18413**2 * 2**30,  # below 70 bits: fmpz.factor's own path
    2**200, 3**130, 10**40 + 1,
])
def test_factor_is_flints_complete_factorisation(n):
    assert factor(n) == flint_s(n)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 2**110))
def test_factor_of_any_number_is_flints_and_multiplies_back(n):
    got = factor(n)
    assert got == flint_s(n)
    assert [int(p) for p, _ in got] == sorted({int(p) for p, _ in got}), got  # each once
    assert math.prod(int(p) ** e for p, e in got) == max(n, 1)
    assert all(flint.fmpz(int(p)).is_prime() for p, _ in got)


@settings(max_examples=100, deadline=None)
@given(small=st.integers(1, 2**24), large=st.integers(2**FACTOR_ECM_FROM_BITS, 2**90),
       power=st.integers(1, 4))
def test_factor_of_numbers_past_the_ecm_threshold_with_small_and_repeated_factors(
        small, large, power):
    assert factor(small**power * large) == flint_s(small**power * large)
