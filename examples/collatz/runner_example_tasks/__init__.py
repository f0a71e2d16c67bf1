"""Three tasks for runner, registered in pyproject.toml under `runner.tasks`."""

import math

import numpy as np

from runner import Task


def collatz_steps(n: int, *, cap: int = 10_000) -> int:
    """Steps of the Collatz map from n down to 1 (at most `cap`; 0 for n < 2)."""
    steps = 0
    while n > 1 and steps < cap:
        n = 3 * n + 1 if n % 2 else n // 2
        steps += 1
    return steps


INT64_LIMIT = 2**63
ODD_SAFE_MAX = (INT64_LIMIT - 2) // 3  # an odd n up to this has 3n + 1 within int64


def collatz_steps_many(numbers: list[int], *, cap: int = 10_000) -> list[int]:
    """collatz_steps of each number, in order: the numbers below 2^63 all at once, as a
    numpy array stepped while any is above 1; a number whose path would overflow int64,
    or that is 2^63 or more, by collatz_steps itself."""
    start = np.array([n if 0 <= n < INT64_LIMIT else 0 for n in numbers], dtype=np.int64)
    steps = np.zeros(len(start), dtype=np.int64)
    index = np.flatnonzero(start > 1)  # where the numbers still on their way to 1 are
    value = start[index]  # where they have got to: all have taken `taken` steps
    by_item = [i for i, n in enumerate(numbers) if not 0 <= n < INT64_LIMIT]
    taken = 0
    while len(index) and taken < cap:
        odd = (value & 1) == 1
        overflows = odd & (value > ODD_SAFE_MAX)
        if overflows.any():
            by_item.extend(index[overflows].tolist())
            index, value, odd = index[~overflows], value[~overflows], odd[~overflows]
        value = np.where(odd, 3 * value + 1, value >> 1)  # 3n + 1 of an even n is discarded
        taken += 1
        arrived = value == 1
        if arrived.any():
            steps[index[arrived]] = taken
            index, value = index[~arrived], value[~arrived]
    steps[index] = taken  # stopped by the cap
    values = steps.tolist()
    for i in by_item:
        values[i] = collatz_steps(numbers[i], cap=cap)
    return values


def is_square(n: int) -> bool:
    return math.isqrt(n) ** 2 == n


COLLATZ_FAST = Task(item=collatz_steps, chunk=collatz_steps_many,
                    doc="Steps of the Collatz map from n down to 1, a chunk at a time in numpy")
SQUARES = Task(item=is_square, kind="filter", doc="The numbers that are perfect squares")
