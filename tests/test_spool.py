"""Unit tests of runner/spool.py: enqueue, claim, place, commit, adopt, list; real files
and real flocks, no daemon."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from runner import listing
from runner.config import CONFIG_TEMPLATE
from runner.errors import SpoolError
from runner.job import JOB_ID_PATTERN, JobState
from runner.jobdir import JOB_FILE, PROGRESS_FILE, SOURCE_FILE, JobDir
from runner.spool import Spool


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool.create(tmp_path / "spool")


def drop(spool: Spool, name: str, text: str = "numbers: [1]\n", mtime: float | None = None) -> Path:
    path = spool.jobs / name
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def lock_is_free(folder: Path) -> bool:
    """Whether a new open file description can flock `folder` (then let go of it)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def hold_lock_here(folder: Path) -> int:
    """Hold `folder`'s flock on an open file description of our own."""
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


class LockHolder:
    """Another live process holding `folder`'s flock, as a daemon holds its jobs'."""

    def __init__(self, folder: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
             "fcntl.flock(fd, fcntl.LOCK_EX)\n"
             "print('locked', flush=True)\n"
             "sys.stdin.read()\n", str(folder)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout.readline() == b"locked\n"

    def die(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(10)


def running_job(spool: Spool, job_id: str, name: str = "a.yaml") -> JobDir:
    jobdir = spool.claim(drop(spool, name))
    assert jobdir is not None
    assert spool.place_running(jobdir, job_id) == job_id
    return jobdir


# -- the spool's places ----------------------------------------------------------------


def test_create_makes_every_place(spool):
    assert (spool.root / "config.yaml").read_text() == CONFIG_TEMPLATE
    for folder in (spool.jobs, spool.outbox, spool.tmp, spool.spares_folder, spool.inputs,
                   spool.claiming, *(spool.place(s) for s in JobState if s is not JobState.QUEUED)):
        assert folder.is_dir(), folder
    assert spool.place(JobState.QUEUED) == spool.jobs
    assert spool.place(JobState.DONE) == spool.jobs / ".state" / "done"


def test_create_keeps_an_existing_config(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "config.yaml").write_text("max_processes: 1\n")
    Spool.create(tmp_path / "s")
    assert (tmp_path / "s" / "config.yaml").read_text() == "max_processes: 1\n"


def test_ensure_refuses_a_missing_root(tmp_path):
    with pytest.raises(SpoolError, match="runner init"):
        Spool(tmp_path / "nope").ensure()


def test_write_atomically(spool):
    dest = spool.outbox / "x.yaml"
    spool.write_atomically(dest, b"one")
    spool.write_atomically(dest, b"two")
    assert dest.read_bytes() == b"two"
    assert list(spool.tmp.iterdir()) == []


# -- queued ------------------------------------------------------------------------------


def test_queued_files_oldest_first_skipping_hidden_and_other_files(spool):
    drop(spool, "b.yaml", mtime=2000)
    drop(spool, "a.yml", mtime=3000)
    drop(spool, "c.yaml", mtime=1000)
    drop(spool, ".hidden.yaml", mtime=500)
    drop(spool, ".c.yaml.tmp", mtime=500)
    drop(spool, "notes.txt", mtime=500)
    drop(spool, "job.yaml.part", mtime=500)
    drop(spool, "README", mtime=500)
    assert spool.queue.paths() == [spool.jobs / n for n in ("c.yaml", "b.yaml", "a.yml")]


def test_queued_files_empty(spool):
    assert spool.queue.paths() == []


def test_enqueue_never_overwrites(spool):
    first = spool.enqueue("job.yaml", b"numbers: [1]\n")
    second = spool.enqueue("job.yaml", b"numbers: [2]\n")
    drop(spool, "job-3.yaml", "numbers: [3]\n")
    fourth = spool.enqueue("job.yaml", b"numbers: [4]\n")
    assert (first.name, second.name, fourth.name) == ("job.yaml", "job-2.yaml", "job-4.yaml")
    assert first.read_bytes() == b"numbers: [1]\n"
    assert second.read_bytes() == b"numbers: [2]\n"
    assert (spool.jobs / "job-3.yaml").read_text() == "numbers: [3]\n"
    assert fourth.read_bytes() == b"numbers: [4]\n"
    assert sorted(p.name for p in spool.jobs.iterdir() if p.is_file()) == [
        "job-2.yaml", "job-3.yaml", "job-4.yaml", "job.yaml"]


def test_enqueue_takes_a_free_name(spool):
    drop(spool, "x-2.yaml")
    assert spool.enqueue("x.yaml", b"a").name == "x.yaml"


def test_enqueue_shows_jobs_no_name_but_the_jobs(spool):
    """The file is written outside jobs/ and linked in: a watcher of jobs/ sees the job's
    own name only, so it is woken once (watchdog 7.1.1, for one, holds an event that comes
    within 1 ms of another for up to 1 ms more)."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    seen = []

    class Everything(FileSystemEventHandler):
        def on_any_event(self, event):
            seen.extend(path for path in (event.src_path, event.dest_path) if path)

    observer = Observer()
    observer.schedule(Everything(), str(spool.jobs), recursive=False)
    observer.start()
    try:
        queued = spool.enqueue("x.yaml", b"numbers: [7]\n")
        deadline = time.monotonic() + 5
        while str(queued) not in seen and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # any later event too
    finally:
        observer.stop()
        observer.join(5)
    assert str(queued) in seen
    assert {path for path in seen if path != str(spool.jobs)} == {str(queued)}, seen


# -- claiming ----------------------------------------------------------------------------


def test_claim_moves_the_file_into_a_locked_folder(spool):
    path = drop(spool, "job.yaml", "numbers: [5]\n")
    jobdir = spool.claim(path)
    assert jobdir is not None
    assert not path.exists()
    assert jobdir.path.parent == spool.claiming
    assert spool.is_claiming(jobdir)
    assert jobdir.file(JOB_FILE).read_text() == "numbers: [5]\n"
    assert jobdir.source_name() == "job.yaml"
    assert jobdir.lock_fd is not None
    assert not lock_is_free(jobdir.path)
    assert spool.queue.paths() == []
    assert [p.name for p in spool.jobs.iterdir() if not p.name.startswith(".state")] == []
    jobdir.release()
    assert lock_is_free(jobdir.path)


def test_second_claim_of_the_same_path_returns_none(spool):
    path = drop(spool, "job.yaml")
    first = spool.claim(path)
    assert first is not None
    assert spool.claim(path) is None
    assert [p.name for p in spool.claiming.iterdir()] == [first.path.name]


def test_claim_keeps_the_files_mtime(spool):
    path = drop(spool, "job.yaml", mtime=1234)
    assert spool.claim(path).file(JOB_FILE).stat().st_mtime == 1234


# -- placing in running/ -------------------------------------------------------------------


def test_place_running_gives_the_wanted_id(spool):
    jobdir = spool.claim(drop(spool, "a.yaml"))
    assert spool.place_running(jobdir, "alpha") == "alpha"
    assert jobdir.path == spool.place(JobState.RUNNING) / "alpha"
    assert jobdir.id == "alpha"
    assert not spool.is_claiming(jobdir)
    assert jobdir.file(JOB_FILE).exists()
    assert list(spool.claiming.iterdir()) == []


def test_place_running_when_the_id_is_running(spool):
    running_job(spool, "alpha", "a.yaml")
    second = spool.claim(drop(spool, "b.yaml"))
    assert spool.place_running(second, "alpha") == "alpha-2"
    third = spool.claim(drop(spool, "c.yaml"))
    assert spool.place_running(third, "alpha") == "alpha-3"
    assert third.path.name == "alpha-3"


def test_place_running_when_a_result_exists(spool):
    (spool.outbox / "alpha.yaml").write_text("state: done\n")
    jobdir = spool.claim(drop(spool, "a.yaml"))
    assert spool.place_running(jobdir, "alpha") == "alpha-2"


@pytest.mark.parametrize("state", [JobState.DONE, JobState.FAILED, JobState.CANCELLED])
def test_place_running_when_a_finished_job_has_the_id(spool, state):
    (spool.place(state) / "alpha").mkdir()
    jobdir = spool.claim(drop(spool, "a.yaml"))
    assert spool.place_running(jobdir, "alpha") == "alpha-2"


def test_place_running_long_id_stays_a_valid_id(spool):
    wanted = "x" * 64
    running_job(spool, wanted, "a.yaml")
    jobdir = spool.claim(drop(spool, "b.yaml"))
    given = spool.place_running(jobdir, wanted)
    assert given == "x" * 57 + "-2"
    assert JOB_ID_PATTERN.fullmatch(given)


# -- committing ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", [JobState.DONE, JobState.FAILED, JobState.CANCELLED])
def test_commit_result(spool, state):
    jobdir = running_job(spool, "alpha")
    primes = jobdir.file("primes.part")
    primes.write_bytes(b"2\n3\n")
    spool.commit_result(jobdir, state, b"state: " + state.value.encode() + b"\n", primes,
                        "alpha.primes")
    assert (spool.outbox / "alpha.yaml").read_bytes() == f"state: {state.value}\n".encode()
    assert (spool.outbox / "alpha.primes").read_bytes() == b"2\n3\n"
    assert jobdir.path == spool.place(state) / "alpha"
    assert (jobdir.path / JOB_FILE).exists()
    assert not (spool.place(JobState.RUNNING) / "alpha").exists()
    assert jobdir.lock_fd is None
    assert lock_is_free(jobdir.path)
    assert spool.read_result_state("alpha") is state
    assert list(spool.tmp.iterdir()) == []


def test_commit_result_without_primes(spool):
    jobdir = running_job(spool, "alpha")
    spool.commit_result(jobdir, JobState.FAILED, b"state: failed\n", None)
    assert sorted(p.name for p in spool.outbox.iterdir()) == ["alpha.yaml"]


def test_commit_result_replaces_a_leftover_archive(spool):
    leftover = spool.place(JobState.DONE) / "alpha"
    leftover.mkdir()
    (leftover / "old").write_text("x")
    jobdir = JobDir(spool.place(JobState.RUNNING) / "alpha")
    jobdir.path.mkdir()
    (jobdir.path / JOB_FILE).write_text("numbers: [1]\n")
    spool.commit_result(jobdir, JobState.DONE, b"state: done\n", None)
    assert sorted(p.name for p in leftover.iterdir()) == [JOB_FILE]


def test_read_result_state(spool):
    assert spool.read_result_state("nope") is None
    (spool.outbox / "a.yaml").write_text("state: cancelled\n")
    (spool.outbox / "b.yaml").write_text("state: sleeping\n")
    (spool.outbox / "c.yaml").write_text("- 1\n")
    assert spool.read_result_state("a") is JobState.CANCELLED
    assert spool.read_result_state("b") is None
    assert spool.read_result_state("c") is None


# -- adopting what a dead process left --------------------------------------------------------


def orphan(spool: Spool, job_id: str) -> JobDir:
    """A running job whose daemon is gone: placed, then its lock let go."""
    jobdir = running_job(spool, job_id, f"{job_id}.yaml")
    jobdir.release()
    return jobdir


def adopt(spool: Spool) -> list[JobDir]:
    return list(spool.adopt_orphans())


def test_free_running_job_is_adopted_and_locked(spool):
    jobdir = orphan(spool, "alpha")
    adopted = adopt(spool)
    assert [d.path for d in adopted] == [jobdir.path]
    assert adopted[0].lock_fd is not None
    assert not lock_is_free(jobdir.path)
    assert adopt(spool) == []  # ours now
    adopted[0].release()


def test_running_job_locked_by_another_process_is_not_adopted(spool):
    jobdir = orphan(spool, "alpha")
    holder = LockHolder(jobdir.path)
    try:
        assert adopt(spool) == []
        holder.die()  # the daemon that held it died: now it is an orphan
        adopted = adopt(spool)
        assert [d.id for d in adopted] == ["alpha"]
        adopted[0].release()
    finally:
        holder.stop()


def test_running_job_locked_by_another_open_file_here_is_not_adopted(spool):
    jobdir = orphan(spool, "alpha")
    fd = hold_lock_here(jobdir.path)
    try:
        assert adopt(spool) == []
    finally:
        os.close(fd)
    adopted = adopt(spool)
    assert [d.id for d in adopted] == ["alpha"]
    adopted[0].release()


def test_running_job_held_by_its_jobdir_is_not_adopted(spool):
    running_job(spool, "alpha")  # its JobDir still holds the lock
    assert adopt(spool) == []


def test_only_free_jobs_are_adopted(spool):
    orphan(spool, "a")
    held = running_job(spool, "b", "b.yaml")
    orphan(spool, "c")
    adopted = adopt(spool)
    assert [d.id for d in adopted] == ["a", "c"]
    for jobdir in adopted + [held]:
        jobdir.release()


def test_committed_orphan_is_archived_not_adopted(spool):
    jobdir = orphan(spool, "alpha")
    (spool.outbox / "alpha.yaml").write_text(yaml.safe_dump({"state": "failed"}))
    assert adopt(spool) == []
    assert not jobdir.path.exists()
    assert (spool.place(JobState.FAILED) / "alpha" / JOB_FILE).exists()
    assert lock_is_free(spool.place(JobState.FAILED) / "alpha")


def test_half_claimed_job_is_taken_over(spool):
    """A claim whose process died after moving the file in: its folder, locked by us now,
    is handed to the caller (still in claiming/) with the file and its source name."""
    path = drop(spool, "job.yaml", "numbers: [7]\n")
    jobdir = spool.claim(path)
    jobdir.release()  # the claimer dies
    adopted = adopt(spool)
    assert [d.path for d in adopted] == [jobdir.path]
    assert spool.is_claiming(adopted[0])
    assert adopted[0].file(JOB_FILE).read_text() == "numbers: [7]\n"
    assert adopted[0].source_name() == "job.yaml"
    assert not lock_is_free(jobdir.path)
    assert spool.place_running(adopted[0], "seven") == "seven"
    adopted[0].release()


def test_half_claimed_with_the_file_at_its_hidden_name(spool):
    """A claimer of an earlier version (which claimed by a rename to a hidden name in
    jobs/, then a link) died between the rename and the link."""
    folder = spool.claiming / "abc123"
    folder.mkdir()
    (folder / SOURCE_FILE).write_text("job.yaml")
    (spool.jobs / ".claimed-abc123").write_text("numbers: [9]\n")
    adopted = adopt(spool)
    assert [d.path for d in adopted] == [folder]
    assert (folder / JOB_FILE).read_text() == "numbers: [9]\n"
    assert not (spool.jobs / ".claimed-abc123").exists()
    adopted[0].release()


def test_half_claimed_before_the_rename_is_dropped(spool):
    """The claimer died before it took the file: the file is still queued; the empty
    claiming folder goes."""
    path = drop(spool, "job.yaml")
    folder = spool.claiming / "abc123"
    folder.mkdir()
    (folder / SOURCE_FILE).write_text("job.yaml")
    assert adopt(spool) == []
    assert not folder.exists()
    assert spool.queue.paths() == [path]


def test_half_claimed_held_by_a_live_claimer_is_left_alone(spool):
    jobdir = spool.claim(drop(spool, "job.yaml"))
    assert adopt(spool) == []
    assert jobdir.file(JOB_FILE).exists()
    jobdir.release()


def test_try_own(spool):
    jobdir = orphan(spool, "alpha")
    other = JobDir(jobdir.path)
    assert jobdir.try_own()
    assert not other.try_own()
    jobdir.release()
    assert other.try_own()
    other.release()


def test_request_cancel(spool):
    jobdir = running_job(spool, "alpha")
    spool.request_cancel("alpha")
    assert jobdir.file("cancel").exists()


# -- listing and finding ---------------------------------------------------------------------


def populated(spool: Spool) -> dict[str, JobDir]:
    drop(spool, "queued.yaml", "id: q1\nnumbers: [1]\n", mtime=1000)
    drop(spool, "plain.yaml", "numbers: [1]\n", mtime=2000)
    claimed = spool.claim(drop(spool, "claimed.yaml", "id: c1\nnumbers: [1]\n"))
    run = running_job(spool, "r1", "r.yaml")
    spool.write_atomically(run.file(PROGRESS_FILE), json.dumps({"tested": 5}).encode())
    done = running_job(spool, "d1", "d.yaml")
    spool.commit_result(done, JobState.DONE, b"state: done\n", None)
    failed = running_job(spool, "f1", "f.yaml")
    spool.commit_result(failed, JobState.FAILED, b"state: failed\n", None)
    return {"claimed": claimed, "running": run}


def test_list_jobs(spool):
    held = populated(spool)
    listed = {(info.id, info.state) for info in listing.list_jobs(spool)}
    assert listed == {("q1", JobState.QUEUED), ("plain", JobState.QUEUED),
                      ("c1", JobState.QUEUED), ("r1", JobState.RUNNING),
                      ("d1", JobState.DONE), ("f1", JobState.FAILED)}
    running = [info for info in listing.list_jobs(spool) if info.state is JobState.RUNNING]
    assert running[0].progress == {"tested": 5}
    for jobdir in held.values():
        jobdir.release()


def test_find(spool):
    held = populated(spool)
    assert listing.find(spool, "q1").state is JobState.QUEUED
    assert listing.find(spool, "q1").path == spool.jobs / "queued.yaml"
    assert listing.find(spool, "plain").state is JobState.QUEUED
    assert listing.find(spool, "c1").state is JobState.QUEUED
    assert listing.find(spool, "r1").state is JobState.RUNNING
    assert listing.find(spool, "r1").progress == {"tested": 5}
    assert listing.find(spool, "d1").state is JobState.DONE
    assert listing.find(spool, "f1").path == spool.place(JobState.FAILED) / "f1"
    assert listing.find(spool, "nope") is None
    assert listing.find(spool, "../outbox") is None
    assert listing.find(spool, "a/b") is None
    assert listing.find(spool, "") is None
    for jobdir in held.values():
        jobdir.release()


def test_a_job_whose_result_is_in_is_finished_before_its_folder_moves(spool):
    """Between a result's rename into outbox/ (the commit) and its folder's move out of
    running/ (after the outbox's fsync, or after a crash, once another daemon adopts it),
    status says what the result says, not running."""
    for state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
        jobdir = running_job(spool, f"j-{state.value}", f"{state.value}.yaml")
        spool.write_atomically(spool.result_path(jobdir.id), f"state: {state.value}\n".encode())
        assert listing.find(spool, jobdir.id).state is state
        assert listing.find(spool, jobdir.id).path == jobdir.path
        jobdir.release()
    unreadable = running_job(spool, "j-odd", "odd.yaml")
    spool.write_atomically(spool.result_path("j-odd"), b"- not a result\n")
    still = running_job(spool, "j-running", "running.yaml")
    assert {info.id: info.state for info in listing.list_jobs(spool)} == {
        "j-done": JobState.DONE, "j-failed": JobState.FAILED,
        "j-cancelled": JobState.CANCELLED, "j-odd": JobState.RUNNING,
        "j-running": JobState.RUNNING}
    unreadable.release()
    still.release()


def test_find_prefers_finished_over_queued(spool):
    done = running_job(spool, "x", "a.yaml")
    spool.commit_result(done, JobState.DONE, b"state: done\n", None)
    drop(spool, "x.yaml")
    assert listing.find(spool, "x").state is JobState.DONE
    run = spool.claim(drop(spool, "b.yaml"))
    assert spool.place_running(run, "x") == "x-2"  # x has history
    assert listing.find(spool, "x-2").state is JobState.RUNNING
    run.release()


# -- things in jobs/ that are not job files ----------------------------------------------------


def test_a_folder_named_like_a_job_file_does_not_break_claim(spool):
    """`mkdir jobs/x.yaml` is a mistake a person can make: claim must not raise (None, or
    a claimed job whose loading then fails as "not a regular file")."""
    (spool.jobs / "x.yaml").mkdir()
    assert spool.queue.paths() == [spool.jobs / "x.yaml"]
    jobdir = spool.claim(spool.jobs / "x.yaml")
    if jobdir is not None:
        jobdir.release()


def test_adopt_orphans_survives_a_claimer_that_died_on_a_folder(spool):
    """A process claimed the folder jobs/x.yaml and died. adopt_orphans (which the daemon
    runs before it claims anything, at every rescan) must not raise from then on, or
    no queued job is ever claimed again."""
    (spool.jobs / "x.yaml").mkdir()
    subprocess.run([sys.executable, "-c",
                    "import sys\n"
                    "from runner.spool import Spool\n"
                    "spool = Spool(sys.argv[1])\n"
                    "spool.claim(spool.jobs / 'x.yaml')\n", str(spool.root)],
                   capture_output=True, timeout=30)
    good = drop(spool, "good.yaml")
    for jobdir in spool.adopt_orphans():
        jobdir.release()
    assert good in spool.queue.paths()


# -- priority: the order of the queue ------------------------------------------------------


def test_queued_runs_higher_priority_first_then_oldest_first(spool):
    drop(spool, "old-low.yaml", "numbers: [1]\n", mtime=1000)
    drop(spool, "new-high.yaml", "id: nh\npriority: 5\nnumbers: [1]\n", mtime=4000)
    drop(spool, "mid-b.yaml", "priority: 2 # a comment\nnumbers: [1]\n", mtime=3000)
    drop(spool, "mid-a.yaml", "numbers: [1]\npriority: 2\n", mtime=2000)
    drop(spool, "neg.yaml", "priority: -3\nnumbers: [1]\n", mtime=500)
    drop(spool, "nested.yaml", "pool:\n  priority: 9\nnumbers: [1]\n", mtime=600)  # not top-level
    drop(spool, "word.yaml", "priority: high\nnumbers: [1]\n", mtime=700)  # fails; ordered as 0
    queued = spool.queue.files()
    assert [q.path.name for q in queued] == ["new-high.yaml", "mid-a.yaml", "mid-b.yaml",
                                             "nested.yaml", "word.yaml", "old-low.yaml", "neg.yaml"]
    assert [q.priority for q in queued] == [5, 2, 2, 0, 0, 0, -3]
    assert queued[0].id == "nh" and queued[1].id == "mid-a"
    assert spool.queue.paths() == [q.path for q in queued]
    assert {info.id: info.progress["priority"] for info in listing.jobs_in(spool, JobState.QUEUED)} == {
        "nh": 5, "mid-a": 2, "mid-b": 2, "nested": 0, "word": 0, "old-low": 0, "neg": -3}


def test_queued_peeks_a_file_once_until_it_changes(spool):
    path = drop(spool, "a.yaml", "priority: 1\nnumbers: [1]\n", mtime=1000)
    assert spool.queue.files()[0].priority == 1
    # the same size and times: the cached peek stands (the file was not read again)
    path.write_text("priority: 7\nnumbers: [1]\n")
    os.utime(path, (1000, 1000))
    assert spool.queue.files()[0].priority == 1
    assert Spool(spool.root).queue.files()[0].priority == 7  # a fresh reader peeks it
    os.utime(path, (1001, 1001))  # changed: peeked again
    assert spool.queue.files()[0].priority == 7
    path.unlink()
    assert spool.queue.files() == [] and spool.queue._peeked == {}  # only names still queued are kept


def test_queued_rescans_a_flood_of_10000_files_fast(spool):
    for n in range(10_000):
        (spool.jobs / f"j{n:05}.yaml").write_text(f"priority: {n % 7}\nnumbers: [{n}]\n")
    first = time.perf_counter()
    queued = spool.queue.files()
    first = time.perf_counter() - first
    again = time.perf_counter()
    assert spool.queue.files() == queued
    again = time.perf_counter() - again
    assert len(queued) == 10_000 and queued[0].priority == 6 and queued[-1].priority == 0
    # the rescan reads no file: a stat of each name, then a sort
    assert again < max(first, 0.2), (first, again)
    assert again < 1.0, again


# -- pruning ---------------------------------------------------------------------------------


def finish(spool: Spool, job_id: str, state: JobState, age_days: float, primes: bool = False):
    """A finished job made by the spool's own moves: claimed, placed, committed."""
    jobdir = spool.claim(drop(spool, f"{job_id}.yaml", f"id: {job_id}\nnumbers: [1]\n"))
    spool.place_running(jobdir, job_id)
    primes_part = None
    if primes:
        primes_part = jobdir.file("primes.part")
        primes_part.write_text("2\n3\n")
    spool.commit_result(jobdir, state, f"id: {job_id}\nstate: {state.value}\n".encode(),
                        primes_part, f"{job_id}.primes")
    old = time.time() - age_days * 86400
    os.utime(spool.result_path(job_id), (old, old))


def test_finished_before_and_remove_finished(spool):
    finish(spool, "old-done", JobState.DONE, 10, primes=True)
    finish(spool, "old-failed", JobState.FAILED, 8)
    finish(spool, "new-done", JobState.DONE, 1)
    cutoff = time.time() - 7 * 86400
    found = sorted((job_id, state) for job_id, state, _ in spool.finished_before(cutoff))
    assert found == [("old-done", JobState.DONE), ("old-failed", JobState.FAILED)]
    assert (spool.outbox / "old-done.primes").exists()
    assert spool.remove_finished("old-done", JobState.DONE)
    assert not spool.remove_finished("old-done", JobState.DONE)  # gone already
    assert not spool.result_path("old-done").exists() and not (spool.outbox / "old-done.primes").exists()
    assert not (spool.place(JobState.DONE) / "old-done").exists()
    assert listing.find(spool, "old-done") is None
    assert os.listdir(spool.tmp) == []
    assert listing.find(spool, "new-done").state is JobState.DONE


def test_a_prune_cut_short_after_the_result_is_finished_by_the_next(spool):
    finish(spool, "half", JobState.DONE, 10)
    folder = spool.place(JobState.DONE) / "half"
    old = time.time() - 10 * 86400
    os.utime(folder, (old, old))
    spool.result_path("half").unlink()  # a crash right after the first removal
    assert [job_id for job_id, _, _ in spool.finished_before(time.time() - 86400)] == ["half"]
    assert spool.remove_finished("half", JobState.DONE)
    assert not folder.exists()


def test_numbered_ids_are_valid_ids_however_long_the_wanted_one():
    from itertools import islice

    from runner.job import JOB_ID_PATTERN, NUMBERED_MAX, numbered_ids

    for wanted in ("job", "x" * 64):
        ids = list(numbered_ids(wanted))
        assert ids[:3] == [wanted, f"{wanted[:57]}-2", f"{wanted[:57]}-3"]
        assert ids[-1] == f"{wanted[:57]}-{NUMBERED_MAX}" and len(ids) == NUMBERED_MAX
        assert all(JOB_ID_PATTERN.fullmatch(each) for each in islice(numbered_ids(wanted), 0, None, 9973))
