"""examples/collatz's functions, read from its source: the chunk function of
`collatz_fast` (numpy, int64) gives exactly what `collatz_steps` gives, number by
number, whatever the numbers and the cap."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin_helpers import EXAMPLE


def load_example() -> object:
    """examples/collatz's module, read from its source (what the plugin tests install)."""
    spec = importlib.util.spec_from_file_location(
        "example_tasks", EXAMPLE / "runner_example_tasks" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load_example()


def collatz_peak(n: int) -> int:
    """The highest number on n's Collatz path."""
    peak = n
    while n > 1:
        n = 3 * n + 1 if n % 2 else n // 2
        peak = max(peak, n)
    return peak


ODD_SAFE_MAX = (2**63 - 2) // 3  # an odd n up to this has 3n + 1 within int64
COLLATZ_EDGES = [
    0, 1, 2, 3, 4, 27, 97, 837_799, 10**12 - 1,
    8_528_817_511,  # starts small, its path passes 2^63 (checked below)
    ODD_SAFE_MAX - 1, ODD_SAFE_MAX + 1,  # odd: 3n + 1 is 2^63 - 4, and 2^63 + 2 (over)
    ODD_SAFE_MAX, 2**63 - 2, 2**63 - 1, 2**63, 2**63 + 1, 2**64, 2**100 + 7, 10**30]


@pytest.mark.parametrize("cap", [10_000, 500, 100, 1, 0, -3, 10**30])
def test_collatz_fast_chunk_gives_the_item_values(cap):
    assert collatz_peak(8_528_817_511) > 2**63 and (ODD_SAFE_MAX - 1) % 2 == 1
    assert 3 * (ODD_SAFE_MAX + 1) + 1 == 2**63 + 2
    numbers = COLLATZ_EDGES + [n * 7919 % 10**12 for n in range(2000)] + COLLATZ_EDGES
    assert example.collatz_steps_many(numbers, cap=cap) == \
        [example.collatz_steps(n, cap=cap) for n in numbers]
    assert example.collatz_steps_many([], cap=cap) == []


@settings(max_examples=200, deadline=None)
@given(numbers=st.lists(st.one_of(st.integers(0, 2**20), st.integers(0, 2**64),
                                  st.integers(2**62, 2**63 + 10), st.integers(0, 2**80))),
       cap=st.integers(-2, 400))
def test_collatz_fast_chunk_equals_the_item_on_any_numbers(numbers, cap):
    assert example.collatz_steps_many(numbers, cap=cap) == \
        [example.collatz_steps(n, cap=cap) for n in numbers]
