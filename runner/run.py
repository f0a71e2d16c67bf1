"""One job being run by the daemon: its chunks fed to a pool, its results gathered.

A `JobRun` keeps a bounded number of chunks in flight (so memory stays flat and
a cancel takes effect at once), writes each chunk's output to the checkpoint as
soon as the job's order allows (input order when `ordered`, else completion
order), retries a chunk whose worker died up to the job's `retries` times, each
retry after a backoff that doubles (held here and handed to the pool at a later
tick: the daemon's loop never sleeps), publishes its progress (with a rate and an
ETA; numbers done within the chunks in flight count too) for other processes, and
commits the result when the last chunk is in. Its methods are called from the
daemon's one thread. `load_claimed` gives it its job: the saved spec, or the job file
checked and placed.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import time
from typing import Optional

from . import events, inputs
from .backend import Backend, Submission
from .checkpoint import Checkpoint, ChunkResult
from .chunk_progress import Counts
from .chunks import BadNumberLine, Chunk
from .config import Config
from .errors import JobError
from .job import JobState
from .jobdir import CANCEL_FILE, JOB_FILE, PROGRESS_FILE, SPEC_FILE, JobDir
from .jobfile import load_job
from .plan import plan_chunks
from .rate import RateWindow
from .results import Outcome, commit_result, output_kind, queued_at
from .spec import Job
from .spool import Spool
from .task import TaskItemError, TaskUnavailable

log = logging.getLogger("runner.run")

PROGRESS_EVERY_SECONDS = 0.25


def load_claimed(spool: Spool, jobdir: JobDir, config: Config) -> tuple[Job, bool]:
    """The spec of a job this process holds: as saved when it started (and True: it is
    resumed), else validated from its file now, placed in running/ (if just claimed),
    given its own link to a submitted numbers file, and saved. A checkpoint left without
    its spec (lost to a power cut) is not resumed: the spec made again may cut the job
    into other chunks (config.yaml may have changed). JobError if the file is bad."""
    claimed = spool.is_claiming(jobdir)  # a claimed job has no spec: it is saved in running/
    spec = None if claimed else jobdir.read_json(SPEC_FILE)
    if spec is not None:
        return Job.from_dict(spec), True
    job = load_job(jobdir.file(JOB_FILE), spool.root, config, jobdir.source_name())
    job_id = spool.place_running(jobdir, job.id) if claimed else jobdir.id
    submitted = job.numbers_file
    if submitted is not None:
        numbers_file, submitted_as = inputs.adopt(spool, jobdir, submitted)
        job = dataclasses.replace(job, numbers_file=numbers_file, submitted_as=submitted_as)
    job = dataclasses.replace(job, id=job_id)
    # not fsynced: a spec lost to a power cut is made again from job.yaml
    spool.write_atomically(jobdir.file(SPEC_FILE), json.dumps(job.to_dict()).encode(),
                           durable=False)
    if submitted is not None:
        inputs.forget(spool, submitted)
    return job, False


class JobRun:
    """Runs `job`, whose folder `jobdir` this process has locked; `resumed` if the job
    ran before under the spec it has now, so that its checkpoint, if any, still holds."""

    def __init__(self, spool: Spool, jobdir: JobDir, job: Job, config: Config,
                 manager: Backend, resumed: bool = False):
        self.spool, self.jobdir, self.job = spool, jobdir, job
        self._config, self._manager = config, manager
        earlier = jobdir.read_json(PROGRESS_FILE) or {}
        self.started_at = earlier.get("started", time.time())
        # the time it ran under daemons before this one (as last published); the rest of
        # the time since it started, it waited for a daemon
        self._ran_before = earlier.get("running_seconds", 0.0)
        self._resumed_at = time.time()
        self._resumed = resumed
        chunks = plan_chunks(job, spool.root, config.limits.number_bits)
        head = list(itertools.islice(chunks, 2))
        self._chunks = itertools.chain(head, chunks)
        self.checkpoint = Checkpoint(jobdir.path, config.fsync_seconds, on_disk=len(head) > 1,
                                     recover=resumed)
        self._window = config.chunks_ahead_per_process * job.pool.processes
        self._inflight = 0
        self._waiting: dict[int, ChunkResult] = {}  # ordered: done, not written
        self._next_to_write = 0
        self._exhausted = False
        self._has_pool = False
        self._delayed: list[tuple[float, Chunk, int]] = []  # (when, chunk, attempt): lost, to retry
        self._progress_written = time.monotonic()  # a job done within the period writes none
        self._rate = RateWindow(time.monotonic(), self.checkpoint.tested)
        self.finished = False

    def advance(self) -> None:
        """Get a pool if we have none yet, keep the window of chunks full, publish
        progress, and finish the job when its last chunk is in."""
        if self.finished:
            return
        if not self._has_pool:
            self._has_pool = self._manager.acquire(self.job.pool)
            if not self._has_pool:
                self.write_progress()
                return
            self._say_started()
        self._submit_due_retries()
        while not self._exhausted and self._held() < self._window:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._exhausted = True
            elif not self.checkpoint.is_done(chunk.index):
                self._submit(chunk, attempt=1)
        if self._exhausted and self._held() == 0:
            self._finish(JobState.DONE)
        else:
            self.write_progress()

    def _say_started(self) -> None:
        """Tell the events log that the job runs (or runs again, from its checkpoint): only
        now that it has workers, so that what it says applied is what does (a Dask
        cluster's workers are known once the scheduler is connected)."""
        if self._resumed:
            checkpoint = self.checkpoint
            self._emit(events.RESUMED, total=self.job.total, tested=checkpoint.tested,
                       chunks_done=checkpoint.chunks_done,
                       chunks_rerun=checkpoint.rerun_after_restart)
        else:
            self._emit(events.STARTED, source=f"jobs/{self.jobdir.source_name()}",
                       task=self.job.task, total=self.job.total, **self.settings())

    def _held(self) -> int:
        """Chunks taken from the plan and not yet written: in flight, waiting for their
        turn in the order, or waiting to be retried."""
        return self._inflight + len(self._waiting) + len(self._delayed)

    def _submit_due_retries(self) -> None:
        now = time.monotonic()
        due = [entry for entry in self._delayed if entry[0] <= now]
        if not due:
            return
        self._delayed = [entry for entry in self._delayed if entry[0] > now]
        for _, chunk, attempt in due:
            self._submit(chunk, attempt)
            self._emit(events.CHUNK_RETRIED, chunk=chunk.index, attempt=attempt)

    def _submit(self, chunk: Chunk, attempt: int) -> None:
        if attempt == 1:
            self.checkpoint.note_submitted(chunk.index)
        self._manager.submit(self.job.pool, self, chunk, attempt, self.job.timeout,
                             str(self.jobdir.path))
        self._inflight += 1

    def chunk_finished(self, submission: Submission, result: ChunkResult) -> None:
        """A chunk's output is in: write it when the job's order allows."""
        self._inflight -= 1
        index = submission.chunk.index
        self._emit(events.CHUNK_DONE, chunk=index, task=self.job.task, tested=result.tested,
                   found=result.found, seconds=time.monotonic() - submission.submitted_at)
        if not self.job.ordered:
            self.checkpoint.record(index, result)
        else:
            self._waiting[index] = result
            while True:  # write every chunk the order now allows
                if self.checkpoint.is_done(self._next_to_write):  # written before a restart
                    self._next_to_write += 1
                elif self._next_to_write in self._waiting:
                    due = self._next_to_write
                    self.checkpoint.record(due, self._waiting.pop(due))
                else:
                    break
        self.advance()

    def chunk_raised(self, submission: Submission, error: BaseException) -> None:
        """The task raised: bad input in the chunk, which no retry can mend."""
        self._inflight -= 1
        where = submission.chunk.describe(self.job)
        job = self.job
        if isinstance(error, BadNumberLine):
            failure = JobError(f"{error.text!r} {error.what}", file=job.numbers_file_shown,
                               line=error.line, field="numbers_file",
                               fix="one non-negative decimal integer a line; '#' starts a comment")
        elif isinstance(error, TaskItemError):
            record = " (or on_error: record, to make the error that number's value and go on)" \
                if job.kind == "map" and error.number is not None else ""
            failure = JobError(f"task {job.task!r} raised {error}", field="task",
                               fix=f"fix the task in {job.task_version}{record}")
        elif isinstance(error, TaskUnavailable):
            failure = JobError(f"{where} cannot run here: {error}", field="task",
                               fix=f"install {job.task_version} wherever chunks run (each Dask "
                               "worker), or restart the daemon if it was upgraded under it; "
                               f"then `runner retry {job.id}`")
        else:
            failure = JobError(f"{where} raised {type(error).__name__}: {error}",
                               fix="report this as a bug in runner, with the job file")
        self.fail(failure.to_dict())

    def chunk_lost(self, submission: Submission, cause: str) -> None:
        """The chunk's worker died or was stopped: retry it, or fail the job."""
        self._inflight -= 1
        where = submission.chunk.describe(self.job)
        timed_out = submission.timed_out
        chunk, attempt = submission.chunk.index, submission.attempt
        self._emit(events.CHUNK_TIMED_OUT if timed_out else events.WORKER_LOST,
                   chunk=chunk, attempt=attempt, cause=cause)
        if not timed_out and attempt <= self.job.retries:
            delay = self._config.retry_delay_seconds(attempt)
            log.warning("job %s: %s lost (%s); trying again in %g s", self.job.id, where, cause,
                        delay)
            self.checkpoint.note_retried(chunk)
            self._delayed.append((time.monotonic() + delay, submission.chunk, attempt + 1))
            return
        tries = f" on each of {submission.attempt} tries" if submission.attempt > 1 else ""
        fix = ("raise the job's timeout (at most limits.timeout in config.yaml) or lower its chunksize"
               if timed_out else "a chunk that kills its worker every time: check the numbers in it, "
               "or raise the job's `retries` (default: defaults.retries in config.yaml) if the "
               "deaths were bad luck")
        self.fail(JobError(f"{where} failed{tries}: {cause}", field="pool", fix=fix,
                           details={"chunk": submission.chunk.index}).to_dict())

    def cancel_requested(self) -> bool:
        return self.jobdir.file(CANCEL_FILE).exists()

    def cancel(self) -> None:
        """Stop the job now; its result says `cancelled`."""
        self._stop(JobState.CANCELLED, None)

    def fail(self, error: dict) -> None:
        """Stop the job now; its result says `failed` with `error`."""
        self._stop(JobState.FAILED, error)

    def _stop(self, state: JobState, error: Optional[dict]) -> None:
        if self.finished:
            return
        self._manager.abort_owner(self)
        self._inflight = 0
        self._waiting.clear()
        self._delayed.clear()
        self._finish(state, error)

    def suspend(self) -> None:
        """Leave the job as it is (the daemon is stopping): checkpoint it and unlock it,
        so that the next daemon resumes it from here."""
        if self.finished:
            return
        # what the next daemon resumes from is what the checkpoint holds: the counts of
        # chunks in flight or waiting for their turn are dropped with them, not published
        self._manager.abort_owner(self)
        self._waiting.clear()
        self.write_progress(force=True)
        self.checkpoint.sync()
        self.abandon()
        self._emit(events.SUSPENDED, tested=self.checkpoint.tested,
                   chunks_done=self.checkpoint.chunks_done)

    def abandon(self) -> None:
        """Let go of the job without touching the disk: stop its chunks, unlock it. It
        stays in running/, and the next rescan (of any daemon) resumes it."""
        if self.jobdir.lock_fd is None:
            return
        self.finished = True
        self._manager.abort_owner(self)
        self._release_pool()
        try:
            self.checkpoint.close()
        except OSError as error:  # the disk may be what failed: unlock the job regardless
            log.warning("job %s: closing its checkpoint failed: %s", self.job.id, error)
        self.jobdir.release()

    def _release_pool(self) -> None:
        if self._has_pool:
            self._manager.release(self.job.pool)
            self._has_pool = False

    def _finish(self, state: JobState, error: Optional[dict] = None) -> None:
        self.finished = True
        self.checkpoint.close()  # commit_result makes the output durable where it is kept
        self._release_pool()
        outcome = Outcome(
            state=state, queued_at=queued_at(self.jobdir), started_at=self.started_at,
            finished_at=time.time(), running_seconds=self.running_seconds(), job=self.job,
            tested=self.checkpoint.tested, found=self.checkpoint.found, error=error,
            chunks={"done": self.checkpoint.chunks_done, "retried": self.checkpoint.retried,
                    "rerun_after_restart": self.checkpoint.rerun_after_restart},
            settings=self.settings(),
        )
        commit_result(self.spool, self.jobdir, outcome, self.checkpoint.output(),
                      self._config.inline_max)
        log.info("job %s %s: %d tested, %d found", self.job.id, state.value,
                 outcome.tested, outcome.found)

    def _emit(self, event: str, **details) -> None:
        self.spool.events.emit(event, self.job.id, **details)

    def settings(self) -> dict:
        """The settings the job runs with, as its started event and result report them:
        its own, and over them what the backend decided (a cluster's workers)."""
        return self.job.settings_summary() | self._manager.applied(self._window)

    def running_seconds(self) -> float:
        """How long the job has run under a daemon, this one and those before it."""
        return self._ran_before + time.time() - self._resumed_at

    def tested_so_far(self) -> Counts:
        """Numbers tested and found up to now: the chunks written to the checkpoint, those
        done and waiting for their turn in the order, and the numbers done of those in
        flight as their workers last said (a chunk whose worker dies leaves the counts)."""
        waiting = self._waiting.values()
        return (Counts(self.checkpoint.tested + sum(result.tested for result in waiting),
                       self.checkpoint.found + sum(result.found for result in waiting))
                + self._manager.tested_so_far(self))

    def write_progress(self, force: bool = False) -> None:
        """Publish progress for `runner status`, at most every PROGRESS_EVERY_SECONDS."""
        now = time.monotonic()
        if not force and (self.finished or now - self._progress_written < PROGRESS_EVERY_SECONDS):
            return
        self._progress_written = now
        counts = self.tested_so_far()
        tested = counts.tested
        total = self.job.total
        rate = self._rate.add(now, tested)
        progress = {"state": JobState.RUNNING.value, "task": self.job.task,
                    "output": output_kind(self.job), "tested": tested, "found": counts.found,
                    "total": total,
                    "rate": None if rate is None else round(rate, 1),
                    "eta": round((total - tested) / rate, 1) if rate else None,
                    "priority": self.job.priority,
                    "started": self.started_at, "updated": time.time(),
                    "running_seconds": round(self.running_seconds(), 3)}
        waiting = self._manager.unavailable()
        if waiting is not None:
            progress["waiting"] = waiting
        self.spool.write_atomically(self.jobdir.file(PROGRESS_FILE), json.dumps(progress).encode(),
                                    durable=False)

