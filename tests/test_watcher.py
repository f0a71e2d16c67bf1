"""The watcher: which files of jobs/ it announces (closed after writing, or moved in from
anywhere, and not hidden), and that a move out of jobs/ (a claim) holds back no later
announcement."""

from __future__ import annotations

import os
import queue
import threading
import time

import pytest

from runner.watcher import CLOSED_HOLD_SECONDS, watch_jobs

WAIT_SECONDS = 5.0
# watchdog's inotify backend held every event 0.5 s behind a move out of the folder
HELD_SECONDS = 0.5


@pytest.fixture
def watched(tmp_path):
    folder = tmp_path / "jobs"
    folder.mkdir()
    arrived: queue.SimpleQueue = queue.SimpleQueue()
    observer = watch_jobs(folder, arrived.put)
    yield folder, arrived
    observer.stop()
    observer.join(WAIT_SECONDS)


def announced(arrived: queue.SimpleQueue, settle: float = 0.2) -> list[str]:
    """The names announced from now until `settle` s pass with none (at least one)."""
    names = [arrived.get(timeout=WAIT_SECONDS)]
    while True:
        try:
            names.append(arrived.get(timeout=settle))
        except queue.Empty:
            return names


def test_a_file_closed_after_writing_or_moved_in_is_announced(watched, tmp_path):
    jobs, arrived = watched
    (jobs / "written.yaml").write_text("numbers: [7]\n")
    assert announced(arrived) == ["written.yaml"]
    (jobs / ".hidden.tmp").write_text("numbers: [7]\n")
    os.rename(jobs / ".hidden.tmp", jobs / "renamed.yaml")
    assert announced(arrived) == ["renamed.yaml"]
    elsewhere = tmp_path / "from-outside.yaml"
    elsewhere.write_text("numbers: [7]\n")
    os.rename(elsewhere, jobs / "from-outside.yaml")
    assert announced(arrived) == ["from-outside.yaml"]


def test_reads_links_deletions_and_hidden_names_announce_nothing(watched):
    jobs, arrived = watched
    (jobs / ".being-written.tmp").write_text("numbers: [7]\n")
    os.rename(jobs / ".being-written.tmp", jobs / ".claimed-1")
    (jobs / ".claimed-1").read_bytes()
    os.link(jobs / ".claimed-1", jobs / "linked.yaml")
    (jobs / "linked.yaml").read_bytes()
    (jobs / "linked.yaml").unlink()
    (jobs / ".claimed-1").unlink()
    (jobs / "last.yaml").write_text("numbers: [7]\n")  # what the watcher says next
    assert announced(arrived) == ["last.yaml"]


def test_a_move_out_holds_back_no_later_arrival(watched, tmp_path):
    """A claim renames a job file out of jobs/; a job dropped right after it is announced
    at once, not after the move out was held (the fastest of three tries, so that a
    busy machine does not fail it)."""
    jobs, arrived = watched
    claimed = tmp_path / "claimed"
    claimed.mkdir()
    waits = []
    for n in range(3):
        (jobs / f"first-{n}.yaml").write_text("numbers: [7]\n")
        assert announced(arrived) == [f"first-{n}.yaml"]
        os.rename(jobs / f"first-{n}.yaml", claimed / f"first-{n}.yaml")
        dropped = time.monotonic()
        (jobs / f"next-{n}.yaml").write_text("numbers: [7]\n")
        assert arrived.get(timeout=WAIT_SECONDS) == f"next-{n}.yaml"
        waits.append(time.monotonic() - dropped)
    assert min(waits) < HELD_SECONDS / 2, waits


def test_a_file_closed_after_writing_is_told_only_once_its_writer_is_done(watched):
    """A writer in place may touch the file just after closing it (rsync --inplace sets
    its times and mode, and fails if the file was claimed from under it): a close is told
    no sooner than CLOSED_HOLD_SECONDS after it."""
    jobs, arrived = watched
    for n in range(10):
        with open(jobs / f"job-{n}.yaml", "w") as handle:
            handle.write("numbers: [7]\n")
        closed = time.perf_counter()
        assert arrived.get(timeout=WAIT_SECONDS) == f"job-{n}.yaml"
        assert time.perf_counter() - closed >= CLOSED_HOLD_SECONDS


def test_a_watch_whose_folder_was_removed_still_stops(tmp_path):
    folder = tmp_path / "jobs"
    folder.mkdir()
    arrived: queue.SimpleQueue = queue.SimpleQueue()
    before = set(threading.enumerate())
    watch = watch_jobs(folder, arrived.put)
    folder.rmdir()
    time.sleep(0.1)
    watch.stop()
    watch.join(WAIT_SECONDS)
    assert set(threading.enumerate()) == before
    assert arrived.empty()
