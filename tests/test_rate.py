"""The rate and ETA a running job publishes (rate.py): silent until it can say something
true, then measured over the recent past."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.rate import RATE_MIN_SECONDS, RATE_WINDOW_SECONDS, RateWindow


def test_no_rate_until_numbers_were_done_for_a_while():
    window = RateWindow(0.0, 0)
    assert window.add(0.25, 10) is None  # a few numbers while the workers start
    assert window.add(0.5, 40) is None
    assert window.add(RATE_MIN_SECONDS, 1_000) == pytest.approx(1_000 / RATE_MIN_SECONDS)


def test_the_wait_before_the_first_number_is_not_counted():
    """Workers importing the task for 5 s, then 10,000 numbers a second: the rate is
    10,000, not the 1,700 a window from the job's start would give."""
    window = RateWindow(0.0, 0)
    for tick in range(1, 21):
        assert window.add(tick * 0.25, 0) is None
    rate = None
    for tick in range(1, 5):
        rate = window.add(5.0 + tick * 0.25, tick * 2_500)
    assert rate == pytest.approx(10_000)


def test_a_resumed_job_counts_only_what_it_does_now():
    window = RateWindow(100.0, 500_000)  # half done before the restart
    assert window.add(100.5, 500_000) is None
    assert window.add(101.0, 505_000) is None
    assert window.add(101.5, 510_000) == pytest.approx(10_000)


def test_the_rate_follows_the_recent_past():
    window = RateWindow(0.0, 0)
    done = 0
    for second in range(1, 31):  # 1,000 a second, then 100 a second from 15 s
        done += 1_000 if second <= 15 else 100
        rate = window.add(float(second), done)
    assert rate == pytest.approx(100, rel=0.01)


def test_a_job_that_stops_moving_loses_its_rate():
    window = RateWindow(0.0, 0)
    assert window.add(2.0, 2_000) == pytest.approx(1_000)
    for second in range(3, 3 + int(RATE_WINDOW_SECONDS) + 2):
        rate = window.add(float(second), 2_000)
    assert rate is None


@given(st.lists(st.tuples(st.floats(0.01, 5.0), st.integers(-50, 1_000)), max_size=60))
def test_never_negative_and_only_after_the_minimum(steps):
    now, done = 0.0, 0
    window = RateWindow(now, done)
    for seconds, more in steps:
        now, done = now + seconds, max(0, done + more)
        rate = window.add(now, done)
        assert rate is None or rate >= 0
