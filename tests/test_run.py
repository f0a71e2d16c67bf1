"""A job's orchestration (runner/run.py) in this process, on a fake backend that runs
nothing: the window of chunks in flight, ordering, retries, cancel and finishing, driven
chunk by chunk. Real daemons run the same code in the end-to-end tests; these take
milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest
import yaml

from runner.backend import Backend, ChunkOwner, Submission, WorkerLost
from runner.checkpoint import ChunkResult, SpilledOutput
from runner.config import Config
from runner.jobfile import parse_job
from runner.job import JobState
from runner.spec import PoolSettings
from runner.run import JobRun
from runner.spool import Spool


class FakeBackend(Backend):
    """Keeps what it is given; the test says how each chunk ends."""

    def __init__(self):
        self.submitted: list[Submission] = []
        self.aborted: list[ChunkOwner] = []
        self.acquired = self.released = 0
        self.workers_free = True  # False: acquire says no, as when the process cap is full

    def acquire(self, settings: PoolSettings) -> bool:
        self.acquired += 1
        return self.workers_free

    def release(self, settings: PoolSettings) -> None:
        self.released += 1

    def submit(self, settings, owner, chunk, attempt, timeout, spill_folder=None) -> None:
        self.submitted.append(Submission(owner, chunk, attempt, None, timeout, spill_folder))

    def take(self, token: int) -> Optional[Submission]:
        return None

    def worker_lost(self, event: WorkerLost) -> list:
        return []

    def abort_owner(self, owner: ChunkOwner) -> None:
        self.aborted.append(owner)

    def unavailable(self) -> Optional[str]:
        return None

    def tick(self) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def indexes(self) -> list[tuple[int, int]]:
        """(chunk index, attempt) of each submission, in order."""
        return [(s.chunk.index, s.attempt) for s in self.submitted]


def start(tmp_path: Path, job_text: str, **settings) -> tuple[JobRun, FakeBackend, Spool]:
    """A job claimed and placed in running/ as the daemon does, run on a FakeBackend."""
    spool = Spool.create(tmp_path / "spool")
    config = Config.model_validate({"max_processes": 1, "chunks_ahead_per_process": 2,
                                    "retry_backoff_seconds": 0, **settings})
    path = spool.enqueue("job.yaml", job_text.encode())
    jobdir = spool.claim(path)
    job = parse_job(job_text.encode(), spool.root, config, "job.yaml")
    spool.place_running(jobdir, job.id)
    backend = FakeBackend()
    return JobRun(spool, jobdir, job, config, backend), backend, spool


def finish(run: JobRun, backend: FakeBackend, index: int, numbers: list[int]) -> None:
    """Chunk `index` ends, having found `numbers`."""
    submission = next(s for s in reversed(backend.submitted) if s.chunk.index == index)
    text = "".join(f"{n}\n" for n in numbers).encode()
    tested = len(submission.chunk.payload.numbers)
    run.chunk_finished(submission, ChunkResult(tested, len(numbers), text))


def result(spool: Spool, job_id: str = "j") -> dict:
    return yaml.safe_load(spool.result_path(job_id).read_text())


JOB = "id: j\nnumbers: [2, 3, 4, 5, 6, 7, 8, 9]\npool: {chunksize: 2}\n"


def test_a_job_says_started_once_it_has_workers(tmp_path):
    """A job waiting for a pool (or a Dask scheduler) has not started: its `started` event,
    with what applied, comes when it gets workers, once."""
    run, backend, spool = start(tmp_path, JOB)
    backend.workers_free = False

    def started():
        return [r for r in spool.events.log.read("j") if r["event"] == "started"]

    run.advance()
    run.advance()
    assert started() == [] and backend.submitted == []
    backend.workers_free = True
    run.advance()
    run.advance()
    assert len(started()) == 1 and len(backend.submitted) == 2
    assert started()[0]["source"] == "jobs/job.yaml" and started()[0]["total"] == 8


def test_the_window_keeps_two_chunks_a_process_in_flight(tmp_path):
    run, backend, _ = start(tmp_path, JOB)
    run.advance()
    assert backend.indexes() == [(0, 1), (1, 1)]  # 2 chunks ahead x 1 process
    finish(run, backend, 0, [2, 3])
    assert backend.indexes() == [(0, 1), (1, 1), (2, 1)]  # one in, the next goes out


def test_an_ordered_job_writes_in_input_order_whatever_order_chunks_end(tmp_path):
    run, backend, spool = start(tmp_path, JOB)
    run.advance()
    finish(run, backend, 1, [5])
    finish(run, backend, 0, [2, 3])
    finish(run, backend, 3, [])
    finish(run, backend, 2, [7])
    assert run.finished
    done = result(spool)
    assert (done["state"], done["primes"], done["numbers_tested"]) == ("done", [2, 3, 5, 7], 8)
    assert done["chunks"]["done"] == 4 and backend.released == 1


def test_an_unordered_job_writes_in_completion_order(tmp_path):
    run, backend, spool = start(tmp_path, JOB.replace("chunksize: 2", "chunksize: 2, ordered: false"))
    run.advance()
    finish(run, backend, 1, [5])
    finish(run, backend, 0, [2, 3])
    finish(run, backend, 3, [])
    finish(run, backend, 2, [7])
    assert result(spool)["primes"] == [5, 2, 3, 7]


def test_a_lost_chunk_is_tried_again_then_fails_the_job_naming_it(tmp_path):
    run, backend, spool = start(tmp_path, JOB.replace("pool:", "retries: 1\npool:"))
    run.advance()
    lost = backend.submitted[0]
    run.chunk_lost(lost, "its worker (pid 1) died: killed by signal 9 (SIGKILL)")
    run.advance()  # the retry is due at once (no backoff here)
    assert backend.indexes()[-1] == (0, 2)
    run.chunk_lost(backend.submitted[-1], "its worker (pid 2) died: killed by signal 9 (SIGKILL)")
    failed = result(spool)
    assert failed["state"] == "failed" and failed["error"]["chunk"] == 0, failed
    assert "on each of 2 tries" in failed["error"]["message"], failed
    assert backend.aborted == [run]  # its other chunks are dropped


def test_cancel_drops_the_jobs_chunks_and_says_cancelled(tmp_path):
    run, backend, spool = start(tmp_path, JOB)
    run.advance()
    finish(run, backend, 0, [2, 3])
    run.cancel()
    cancelled = result(spool)
    assert cancelled["state"] == "cancelled" and cancelled["numbers_tested"] == 2
    assert backend.aborted == [run] and run.finished


def test_a_finished_job_keeps_no_spill_file_of_its_chunks_in_flight(tmp_path):
    """A chunk still in flight when its job ends (here: cancelled) may leave its output
    as a spill file in the job's folder; nobody will record it, and it is removed."""
    run, backend, spool = start(tmp_path, JOB)
    run.advance()
    in_flight = Path(backend.submitted[1].spill_folder or run.jobdir.path) / "1-1.spill"
    in_flight.write_bytes(b"5\n")
    run.cancel()
    archived = spool.place(JobState.CANCELLED) / "j"
    assert archived.is_dir() and not list(archived.glob("*.spill"))  # spool._archive's care


def test_a_one_chunk_job_commits_its_spilled_output_and_no_other_spill_file(tmp_path):
    """A job of one chunk keeps its output where the worker spilled it, and commits that
    file: the spill files removed at the end are the others (a chunk nobody waits for)."""
    run, backend, spool = start(tmp_path, "id: j\nnumbers: [2, 3, 4, 5]\n")
    run.advance()
    (submission,) = backend.submitted
    folder = Path(submission.spill_folder or run.jobdir.path)
    spilled = folder / "0-1.spill"
    spilled.write_bytes(b"2\n3\n5\n")
    (folder / "7-1.spill").write_bytes(b"11\n")  # a stray one: removed
    run.chunk_finished(submission, ChunkResult(4, 3, SpilledOutput(str(spilled), 6)))
    done = result(spool)
    assert (done["state"], done["primes"]) == ("done", [2, 3, 5]), done
    assert not list((spool.place(JobState.DONE) / "j").glob("*.spill"))


@pytest.mark.parametrize("task, keys", [("factor", ("values",)), ("primes", ("primes_found", "primes"))])
def test_the_result_speaks_of_the_jobs_task(tmp_path, task, keys):
    run, backend, spool = start(tmp_path, f"id: j\ntask: {task}\nnumbers: [6]\n")
    run.advance()
    submission = backend.submitted[0]
    output = b'["6", [["2", 1], ["3", 1]]]\n' if task == "factor" else b""
    run.chunk_finished(submission, ChunkResult(1, 1 if task == "factor" else 0, output))
    done = result(spool)
    assert done["task"] == task and all(key in done for key in keys), done
