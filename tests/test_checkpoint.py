"""Unit tests of runner/checkpoint.py: record, crash (close without finishing), recover."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from runner.checkpoint import (JOURNAL_FILE, OUTPUT_FILE, SPILL_SUFFIX, Checkpoint, ChunkResult,
                               SpilledOutput)

CHUNKS = {  # index: (tested, primes, text)
    0: (10, 4, b"2\n3\n5\n7\n"),
    1: (10, 4, b"11\n13\n17\n19\n"),
    2: (10, 2, b"23\n29\n"),
    3: (10, 2, b"31\n37\n"),
    4: (10, 0, b""),
    5: (10, 3, b"41\n43\n47\n"),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "job"
    path.mkdir()
    return path


def open_checkpoint(folder: Path) -> Checkpoint:
    return Checkpoint(folder, fsync_seconds=0.0)


def record(checkpoint: Checkpoint, *indexes: int) -> None:
    for index in indexes:
        checkpoint.record(index, ChunkResult(*CHUNKS[index]))


def size(*indexes: int) -> int:
    return sum(len(CHUNKS[i][2]) for i in indexes)


def journal(folder: Path) -> bytes:
    return (folder / JOURNAL_FILE).read_bytes()


def output(folder: Path) -> bytes:
    return (folder / OUTPUT_FILE).read_bytes()


def state(checkpoint: Checkpoint, up_to: int = 8) -> tuple:
    return (checkpoint.tested, checkpoint.found, checkpoint.chunks_done,
            {i for i in range(up_to) if checkpoint.is_done(i)}, checkpoint.offset)


def test_fresh_checkpoint(folder):
    checkpoint = open_checkpoint(folder)
    assert state(checkpoint) == (0, 0, 0, set(), 0)
    assert checkpoint.rerun_after_restart == 0
    assert checkpoint.output_path == folder / OUTPUT_FILE
    checkpoint.close()
    assert output(folder) == b"" and journal(folder) == b""


def test_record_writes_output_then_journal(folder):
    checkpoint = open_checkpoint(folder)
    checkpoint.note_submitted(0)
    checkpoint.note_submitted(1)
    record(checkpoint, 0, 1)
    assert output(folder) == CHUNKS[0][2] + CHUNKS[1][2]  # flushed without close
    assert journal(folder) == b"S 0\nS 1\nD 0 10 4 8\nD 1 10 4 20\n"
    assert state(checkpoint) == (20, 8, 2, {0, 1}, size(0, 1))
    checkpoint.close()


def test_recover_after_close(folder):
    checkpoint = open_checkpoint(folder)
    for index in (0, 1, 2):
        checkpoint.note_submitted(index)
    record(checkpoint, 0, 1, 2)
    checkpoint.close()

    recovered = open_checkpoint(folder)
    assert state(recovered) == (30, 10, 3, {0, 1, 2}, size(0, 1, 2))
    assert recovered.rerun_after_restart == 0
    assert output(folder) == CHUNKS[0][2] + CHUNKS[1][2] + CHUNKS[2][2]
    recovered.note_submitted(3)
    record(recovered, 3)
    recovered.close()

    again = open_checkpoint(folder)
    assert state(again) == (40, 12, 4, {0, 1, 2, 3}, size(0, 1, 2, 3))
    assert output(folder) == b"".join(CHUNKS[i][2] for i in range(4))
    again.close()


def test_retried_chunks_are_counted_over_a_restart(folder):
    """A chunk handed again after its worker was lost counts in the result, also when
    the daemon died and another resumed the job."""
    checkpoint = open_checkpoint(folder)
    checkpoint.note_submitted(0)
    checkpoint.note_retried(0)
    checkpoint.note_submitted(1)
    checkpoint.note_retried(1)
    checkpoint.note_retried(1)
    record(checkpoint, 0)
    assert checkpoint.retried == 3
    del checkpoint  # a crash: never closed

    recovered = open_checkpoint(folder)
    assert (recovered.retried, recovered.rerun_after_restart) == (3, 1)  # chunk 1 was in flight
    recovered.note_retried(1)
    recovered.close()
    assert open_checkpoint(folder).retried == 4


def test_recover_out_of_order_completion(folder):
    checkpoint = open_checkpoint(folder)
    record(checkpoint, 2, 0, 5, 4)
    checkpoint.close()
    recovered = open_checkpoint(folder)
    assert recovered.chunks_done == 4
    assert {i for i in range(8) if recovered.is_done(i)} == {0, 2, 4, 5}
    assert recovered.tested == 40 and recovered.found == 9
    record(recovered, 1, 3)
    assert {i for i in range(8) if recovered.is_done(i)} == {0, 1, 2, 3, 4, 5}
    recovered.close()
    assert output(folder) == b"".join(CHUNKS[i][2] for i in (2, 0, 5, 4, 1, 3))


@pytest.mark.parametrize("torn", [b"D 3 10 2 3", b"D 3 10", b"D", b"S 4", b"R 1", b"L 4",
                                  b"D 3 10 2 9999"])
def test_torn_last_journal_line_is_ignored(folder, torn):
    checkpoint = open_checkpoint(folder)
    record(checkpoint, 0, 1)
    checkpoint.close()
    with open(folder / JOURNAL_FILE, "ab") as handle:
        handle.write(torn)
    good = journal(folder)[:-len(torn)]

    recovered = open_checkpoint(folder)
    assert state(recovered) == (20, 8, 2, {0, 1}, size(0, 1))
    assert recovered.rerun_after_restart == 0
    assert journal(folder) == good  # the torn part is gone, so new lines start clean
    record(recovered, 2)
    recovered.close()

    again = open_checkpoint(folder)
    assert state(again) == (30, 10, 3, {0, 1, 2}, size(0, 1, 2))
    assert output(folder) == b"".join(CHUNKS[i][2] for i in range(3))
    again.close()


@pytest.mark.parametrize("cut", [0, 1, 8, 9, 19, 20, 25, 26])
def test_journal_line_past_the_output_is_dropped(folder, cut):
    """Power loss: the journal reached the disk, the output only up to `cut` bytes. Every
    D line whose end offset is past the output's size is dropped, and the output is cut
    back to the last chunk that is whole."""
    checkpoint = open_checkpoint(folder)
    record(checkpoint, 0, 1, 2)  # ends at 8, 20, 26
    ends = ((0, size(0)), (1, size(0, 1)), (2, size(0, 1, 2)))
    checkpoint.close()
    os.truncate(folder / OUTPUT_FILE, cut)

    recovered = open_checkpoint(folder)
    done = {i for i, end in ends if end <= cut}
    offset = max([end for i, end in ends if i in done], default=0)
    assert {i for i in range(8) if recovered.is_done(i)} == done
    assert recovered.chunks_done == len(done)
    assert recovered.tested == 10 * len(done)
    assert recovered.offset == offset
    assert output(folder) == b"".join(CHUNKS[i][2] for i in sorted(done))
    record(recovered, *sorted({0, 1, 2} - done))
    recovered.close()

    again = open_checkpoint(folder)
    assert state(again) == (30, 10, 3, {0, 1, 2}, size(0, 1, 2))
    assert sorted(output(folder).split()) == sorted(b"2 3 5 7 11 13 17 19 23 29".split())
    again.close()


def test_missing_output_drops_the_journal(folder):
    checkpoint = open_checkpoint(folder)
    record(checkpoint, 0, 1)
    checkpoint.close()
    (folder / OUTPUT_FILE).unlink()
    recovered = open_checkpoint(folder)
    assert state(recovered) == (0, 0, 0, set(), 0)
    assert journal(folder) == b""
    recovered.close()


def test_chunks_without_primes_recover(folder):
    checkpoint = open_checkpoint(folder)
    record(checkpoint, 4)
    checkpoint.note_submitted(0)
    checkpoint.close()
    os.truncate(folder / OUTPUT_FILE, 0)
    recovered = open_checkpoint(folder)
    assert recovered.is_done(4) and recovered.chunks_done == 1 and recovered.offset == 0
    recovered.close()


def test_submitted_but_not_done_counts_as_rerun_after_restart(folder):
    first = open_checkpoint(folder)
    for index in range(4):
        first.note_submitted(index)
    record(first, 0, 2)
    first.close()  # the daemon dies holding chunks 1 and 3

    second = open_checkpoint(folder)
    assert second.rerun_after_restart == 2
    assert state(second) == (20, 6, 2, {0, 2}, size(0, 2))
    assert journal(folder).endswith(b"R 2\n")
    # the second daemon runs 1 and 3 again, and 4; it dies holding 3 and 4
    for index in (1, 3, 4):
        second.note_submitted(index)
    record(second, 1)
    second.close()

    third = open_checkpoint(folder)
    assert third.rerun_after_restart == 4  # cumulative: 2 + 2
    assert state(third) == (30, 10, 3, {0, 1, 2}, size(0, 1, 2))
    third.close()

    fourth = open_checkpoint(folder)  # the rerun count survives a clean reopen
    fourth.note_submitted(3)
    fourth.note_submitted(4)
    record(fourth, 3, 4)
    fourth.close()
    # the third daemon closed before it submitted 3 and 4 again: counted once, by the third
    assert open_checkpoint(folder).rerun_after_restart == 4


def test_rerun_count_of_a_clean_reopen_is_unchanged(folder):
    checkpoint = open_checkpoint(folder)
    checkpoint.note_submitted(0)
    record(checkpoint, 0)
    checkpoint.close()
    for _ in range(3):
        again = open_checkpoint(folder)
        assert again.rerun_after_restart == 0
        again.close()
    assert b"R" not in journal(folder)


def test_chunk_in_flight_is_counted_once_if_not_run_again(folder):
    """A restart counts the chunks in flight when the daemon died. A daemon that died
    again before it resubmitted them (say, it waited for a pool) held none of them: the
    next restart must not count them a second time."""
    first = open_checkpoint(folder)
    first.note_submitted(0)
    first.note_submitted(1)
    record(first, 0)
    first.close()  # dies holding chunk 1

    second = open_checkpoint(folder)
    assert second.rerun_after_restart == 1
    second.close()  # dies before it submits anything

    third = open_checkpoint(folder)
    assert third.rerun_after_restart == 1
    third.close()


# -- spilled outputs: a worker's file, copied in by the kernel -------------------------------


def spill(folder: Path, name: str, text: bytes) -> SpilledOutput:
    path = folder / f"{name}{SPILL_SUFFIX}"
    path.write_bytes(text)
    return SpilledOutput(str(path), len(text))


def test_spilled_output_is_copied_in_order_and_removed(folder):
    checkpoint = open_checkpoint(folder)
    record(checkpoint, 0)
    big = b"".join(b"%d\n" % n for n in range(10**12, 10**12 + 20_000))
    spilled = spill(folder, "1-7", big)
    checkpoint.record(1, ChunkResult(20_000, 20_000, spilled))
    record(checkpoint, 2)
    checkpoint.close()
    assert output(folder) == CHUNKS[0][2] + big + CHUNKS[2][2]
    assert not Path(spilled.path).exists()
    end = size(0) + len(big)
    assert journal(folder).splitlines()[1] == b"D 1 20000 20000 %d" % end
    recovered = open_checkpoint(folder)
    assert state(recovered, 3) == (20_020, 20_006, 3, {0, 1, 2}, end + size(2))
    recovered.close()


def test_spilled_output_falls_back_to_a_plain_copy(folder, monkeypatch):
    """A filesystem where copy_file_range cannot work (EXDEV, EINVAL, ...): copied in Python."""
    def refuse(*args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    monkeypatch.setattr(os, "copy_file_range", refuse)
    checkpoint = open_checkpoint(folder)
    record(checkpoint, 0)
    checkpoint.record(1, ChunkResult(5, 2, spill(folder, "1-8", b"53\n59\n")))
    record(checkpoint, 2)
    checkpoint.close()
    assert output(folder) == CHUNKS[0][2] + b"53\n59\n" + CHUNKS[2][2]


def test_spill_files_left_by_a_crash_are_removed_and_their_chunks_rerun(folder):
    checkpoint = open_checkpoint(folder)
    checkpoint.note_submitted(0)
    checkpoint.note_submitted(1)
    record(checkpoint, 0)
    left = spill(folder, "1-9", b"11\n13\n")  # chunk 1's worker was done; the daemon died
    checkpoint.close()
    recovered = open_checkpoint(folder)
    assert not Path(left.path).exists()
    assert not recovered.is_done(1) and recovered.rerun_after_restart == 1
    recovered.close()


# -- a job of one chunk: kept in memory ----------------------------------------------------


def test_one_chunk_checkpoint_writes_no_file(folder):
    checkpoint = Checkpoint(folder, fsync_seconds=0.0, on_disk=False)
    checkpoint.note_submitted(0)
    record(checkpoint, 0)
    checkpoint.sync()
    checkpoint.close()
    assert list(folder.iterdir()) == []
    assert checkpoint.output() == CHUNKS[0][2]
    assert (checkpoint.tested, checkpoint.found, checkpoint.chunks_done) == (10, 4, 1)
    assert checkpoint.is_done(0)


def test_one_chunk_checkpoint_gives_its_spill_file_as_the_output(folder):
    checkpoint = Checkpoint(folder, fsync_seconds=0.0, on_disk=False)
    spilled = spill(folder, "0-1", b"53\n59\n")
    checkpoint.record(0, ChunkResult(5, 2, spilled))
    checkpoint.close()
    assert checkpoint.output() == Path(spilled.path)
    assert Path(spilled.path).read_bytes() == b"53\n59\n"  # kept: it goes to outbox/ as it is
    assert not (folder / JOURNAL_FILE).exists() and not (folder / OUTPUT_FILE).exists()


def test_one_chunk_checkpoint_with_nothing_recorded_has_no_output(folder):
    assert Checkpoint(folder, fsync_seconds=0.0, on_disk=False).output() == b""


def test_checkpoint_left_on_disk_is_recovered_even_for_one_chunk(folder):
    """A journal from an earlier run (a daemon that kept one for every job) is used."""
    checkpoint = open_checkpoint(folder)
    checkpoint.note_submitted(0)
    record(checkpoint, 0)
    checkpoint.close()
    recovered = Checkpoint(folder, fsync_seconds=0.0, on_disk=False)
    assert recovered.on_disk and recovered.is_done(0)
    assert recovered.output() == folder / OUTPUT_FILE
    recovered.close()


def test_checkpoint_not_to_recover_is_discarded(folder):
    """A job validated afresh (its spec was lost) may have other chunks: what the earlier
    run left is dropped, and the output starts empty."""
    checkpoint = open_checkpoint(folder)
    checkpoint.note_submitted(0)
    record(checkpoint, 0, 1)
    checkpoint.close()
    fresh = Checkpoint(folder, fsync_seconds=0.0, recover=False)
    assert state(fresh) == (0, 0, 0, set(), 0) and fresh.rerun_after_restart == 0
    assert journal(folder) == b"" and output(folder) == b""
    record(fresh, 0)
    fresh.close()
    assert output(folder) == CHUNKS[0][2]


def test_a_checkpoint_written_before_tasks_is_resumed(folder):
    checkpoint = open_checkpoint(folder)
    record(checkpoint, 0, 1)
    checkpoint.close()
    (folder / OUTPUT_FILE).rename(folder / "primes.part")  # its name before tasks
    recovered = open_checkpoint(folder)
    assert state(recovered, 2) == (20, 8, 2, {0, 1}, size(0, 1))
    recovered.close()
    assert output(folder) == CHUNKS[0][2] + CHUNKS[1][2]
    assert not (folder / "primes.part").exists()
