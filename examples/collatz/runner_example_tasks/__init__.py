"""Two tasks for runner, registered in pyproject.toml under `runner.tasks`."""

import math

from runner import Task


def collatz_steps(n: int, *, cap: int = 10_000) -> int:
    """Steps of the Collatz map from n down to 1 (at most `cap`; 0 for n < 2)."""
    steps = 0
    while n > 1 and steps < cap:
        n = 3 * n + 1 if n % 2 else n // 2
        steps += 1
    return steps


def is_square(n: int) -> bool:
    return math.isqrt(n) ** 2 == n


SQUARES = Task(item=is_square, kind="filter", doc="The numbers that are perfect squares")
