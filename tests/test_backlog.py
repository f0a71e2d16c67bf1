"""The backlog: queued files in run order, a file still being written passed over (not
waited for) until its close brings it back."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import drop_job
from runner.backlog import Backlog

HOLD_OPEN_FOR_WRITING = ("import sys\n"
                         "handle = open(sys.argv[1], 'ab')\n"
                         "print('open', flush=True)\n"
                         "sys.stdin.read()\n")


@pytest.mark.timeout(30)
def test_a_file_being_written_is_passed_over_until_its_close_announces_it(spool):
    first = drop_job(spool, "first.yaml", {"id": "first", "priority": 5, "numbers": [2]})
    second = drop_job(spool, "second.yaml", {"id": "second", "numbers": [3]})
    backlog = Backlog()
    backlog.start_watching()
    writer = subprocess.Popen([sys.executable, "-c", HOLD_OPEN_FOR_WRITING, str(first)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        for queued in spool.queue.files():
            backlog.add(queued)
        assert [queued.path for queued in spool.queue.files()] == [first, second]
        assert backlog.next_to_claim() == second  # the first in run order is not whole
        assert backlog.next_to_claim() is None and not backlog
    finally:
        writer.stdin.close()
        writer.wait(10)
    backlog.announce(spool.queue.get("first.yaml"))  # what its close event does
    assert backlog.next_to_claim() == first
    assert backlog.next_to_claim() is None


def test_enqueue_announces_its_file_without_making_one_when_it_was_claimed_at_once(spool):
    """enqueue opens its linked file for writing, to make the close event that announces
    it; a daemon may claim the file first (a rescan finds it whole at once): the opening
    must not make a new, empty job file of that name."""
    claimed = []
    dest = spool.enqueue("a.yaml", b"numbers: [2]\n",
                         on_queued=lambda path: claimed.append(spool.claim(path)))
    assert claimed[0] is not None
    assert not dest.exists(), "an empty job file was left in jobs/"
