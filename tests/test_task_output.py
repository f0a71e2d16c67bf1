"""Unit tests of runner/task.py's output of a map task: one JSON array ["n", value] a
line, whatever the values, however it is written."""

from __future__ import annotations

import json

import pytest

from runner.task import _map_lines


@pytest.mark.parametrize("values", [
    [0, 1, -5, 111, 2**64 + 1, 10**400],  # all ints: formatted without the json module
    [1, True, False, 2],  # bools are ints to Python, but `true` in JSON
    [1, None, 2.5, float("nan"), 'say "hi"\n', [["2", 3]], {"error": "ValueError: x"}],
    [],
])
def test_a_map_output_line_is_the_json_array_of_n_and_its_value(values):
    numbers = [10**30 + k for k in range(len(values))]
    assert _map_lines(numbers, values).decode().splitlines() == \
        [json.dumps([str(n), value]) for n, value in zip(numbers, values)]
