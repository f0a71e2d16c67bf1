"""A running job's rate (numbers a second) and so its ETA, as `runner status` shows them.

The rate is measured over about the last RATE_WINDOW_SECONDS of the job's progress
samples. It says nothing until it has seen numbers done over at least
RATE_MIN_SECONDS: at a job's start (or just after a restart) the workers are still
importing the task and the first chunks are not in, and a rate taken from those first
few numbers once gave an ETA of 22 hours for a job that took seconds. Time that passed
with no number done before the window's first progress does not count either, for the
same reason; a job that stops moving for a whole window loses its rate again.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

RATE_WINDOW_SECONDS = 10.0
RATE_MIN_SECONDS = 1.0


class RateWindow:
    """Progress samples (when, numbers done) of one job, and the rate they show."""

    def __init__(self, now: float, done: int):
        self._samples: deque[tuple[float, int]] = deque([(now, done)])

    def add(self, now: float, done: int) -> Optional[float]:
        """Record that `done` numbers were done at `now` (monotonic seconds); return the
        rate over the window, or None while the window is too short to say. A lost
        chunk's numbers leave the count: the rate may dip, never below 0."""
        samples = self._samples
        if done == samples[0][1]:  # nothing done in the whole window: it starts now
            samples.clear()
        samples.append((now, done))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_SECONDS:
            samples.popleft()
        since, done_then = samples[0]
        if now - since < RATE_MIN_SECONDS:
            return None
        return max(0.0, (done - done_then) / (now - since))
