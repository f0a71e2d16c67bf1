"""Unit tests of runner/task.py's output of a map task: one JSON array ["n", value] a
line, whatever the values, however it is written; each number's value in its place,
errors included."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner import chunk_progress
from runner.task import Task, TaskCall, TaskItemError, _map_lines, _values


@pytest.mark.parametrize("values", [
    [0, 1, -5, 111, 2**64 + 1, 10**400],  # all ints: formatted without the json module
    [1, True, False, 2],  # bools are ints to Python, but `true` in JSON
    [1, None, 2.5, float("nan"), 'say "hi"\n', [["2", 3]], {"error": "ValueError: x"}],
    [],
    # lists of [digits, int] pairs (the factor task's): formatted without the json module,
    # unless an item is not quite that
    [[], [["2", 3], ["5", 1]], [[str(2**127 - 1), 10**400]], [["3", 1]] * 3],
    [[["2", True]], [["2", 1.0]], [["٣", 1]], [["²", 1]], [["-2", 1]], [["2 ", 1]],
     [['2"', 1]], [[2, 1]], [["2", 1, 0]], [["2"]], [("2", 1)], ["21"], [{"2": 1}],
     [["2", 1], "x"], [["2", None]], [[["2"], 1]]],
])
def test_a_map_output_line_is_the_json_array_of_n_and_its_value(values):
    numbers = [10**30 + k for k in range(len(values))]
    assert _map_lines(numbers, values).decode().splitlines() == \
        [json.dumps([str(n), value]) for n, value in zip(numbers, values)]


def test_the_factor_tasks_values_are_written_without_the_json_module(monkeypatch):
    """Lists of [digits, int] pairs take the fast path: json.dumps costs twice the time,
    about 1% of a worker's on a factor job."""
    def refused(*args, **kwargs):
        raise AssertionError("json.dumps called")

    monkeypatch.setattr(json, "dumps", refused)
    assert _map_lines([12, 1], [[["2", 2], ["3", 1]], []]) == \
        b'["12", [["2", 2], ["3", 1]]]\n["1", []]\n'


def _odd_ones_out(n: int) -> int:
    """A map item that raises on the numbers divisible by 7."""
    if n % 7 == 0:
        raise ValueError(f"{n} is a multiple of 7")
    return n * n


@given(numbers=st.lists(st.integers(0, 100), max_size=300))
def test_an_item_runs_once_a_number_in_order_and_its_errors_are_recorded_where_they_fell(
        numbers):
    """Items are mapped a batch at a time: each number's value, or its exception with
    on_error: record, lands in its own place, and progress counts every number once."""
    told = [0]  # the counts so far, as each report gives them
    every, chunk_progress.REPORT_EVERY_SECONDS = chunk_progress.REPORT_EVERY_SECONDS, 0
    chunk_progress.open_report(lambda tested, found: told.append(tested))
    try:
        values = _values(Task(item=_odd_ones_out), TaskCall("odd", on_error="record"), numbers)
    finally:
        chunk_progress.close_report()
        chunk_progress.REPORT_EVERY_SECONDS = every
    assert values == [{"error": f"ValueError: {n} is a multiple of 7"} if n % 7 == 0 else n * n
                      for n in numbers]
    assert told == sorted(told) and told[-1] == len(numbers)


@given(numbers=st.lists(st.integers(0, 100), min_size=1, max_size=300))
def test_an_item_that_raises_fails_the_chunk_naming_the_first_number_it_raised_on(numbers):
    raising = [n for n in numbers if n % 7 == 0]
    if not raising:
        assert _values(Task(item=_odd_ones_out), TaskCall("odd"), numbers) == \
            [n * n for n in numbers]
        return
    with pytest.raises(TaskItemError) as raised:
        _values(Task(item=_odd_ones_out), TaskCall("odd"), numbers)
    assert raised.value.number == raising[0]
    assert raised.value.error == f"ValueError: {raising[0]} is a multiple of 7"
    assert "in _odd_ones_out" in raised.value.where
