"""The daemon: the one loop that ties the spool, the pools and the running jobs.

Everything that changes state happens in this loop's thread. Other threads only
post messages to its queue: the watcher (watcher.py: a file in jobs/ is whole), the
pools' result threads (a chunk finished or raised) and the supervisor (a worker was
lost). Between messages the loop ticks: it enforces timeouts, notices cancel
requests, publishes progress and rescans jobs/ in case the watcher missed a file.

A bad job never stops the loop: it becomes a failed result and the loop goes on.
On SIGTERM or SIGINT the daemon takes no new job, checkpoints the running ones,
stops its pools and returns; the next start resumes those jobs.

What happens is told three ways: the events log (events.py, one JSON line per
state change or fault), the daemon's own log (daemon_log.py: stderr and
jobs/.state/daemon.log, one logger per component), and, when config.yaml sets
`metrics_port`, Prometheus metrics (metrics.py).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from . import __version__, daemons, events
from .backend import Backend, ChunkFinished, ChunkRaised, Emit, Post, WorkerLost
from .backlog import Backlog
from .config import Config, load_config
from .daemon_log import configure_logging
from .errors import JobError, SpoolError
from .job import JobState, peek_job_id
from .jobdir import JOB_FILE, JobDir
from .numbers import allow_long_integers
from .registry import registry
from .results import Outcome, commit_result, iso, queued_at
from .retention import prune
from .run import JobRun, load_claimed
from .spool import Spool
from .watcher import watch_jobs
from .writers import Writers, probe_writers

log = logging.getLogger("runner.daemon")

TICK_SECONDS = 0.05
ERROR_PAUSE_SECONDS = 1.0
SWITCH_INTERVAL_SECONDS = 0.0005
PRUNE_EVERY_SECONDS = 60.0  # how often finished jobs past retention_days are looked for
PRUNE_BATCH_JOBS = 100      # most jobs pruned by one rescan


def serve(spool: Spool, verbose: bool = False, drain: bool = False) -> int:
    """Run a daemon on `spool` (`runner start`), logging to stderr and the spool's
    daemon.log, under config.yaml, until stopped (or, with `drain`, until no job is
    left); returns its exit code. ConfigError if config.yaml is wrong."""
    configure_logging(spool, verbose)
    return Daemon(spool, load_config(spool.root), drain=drain).run()


def open_backend(config: Config, post: Post, emit: Emit) -> Backend:
    """The backend config.yaml names, posting its messages with `post` and its events
    with `emit`."""
    if config.backend == "dask":
        from .dask_backend import DaskBackend  # distributed: only when asked for

        return DaskBackend(config, post, emit)
    from .pools import PoolManager

    return PoolManager(config, post, emit)


class _Wake:
    """A message that only wakes the loop."""


@dataclasses.dataclass(frozen=True)
class _FileArrived:
    """A file in jobs/ was closed after writing or moved in: it is whole."""

    name: str


class Daemon:
    """Runs the jobs of one spool until stopped (or, with `drain`, until none is left)."""

    def __init__(self, spool: Spool, config: Config, drain: bool = False,
                 backend: Callable[[Config, Post, Emit], Backend] = open_backend):
        """`backend` opens what runs the chunks once `run` starts (default: the one
        config.yaml names)."""
        self.spool, self.config, self.drain = spool, config, drain
        self._open_backend = backend
        self._messages: queue.SimpleQueue = queue.SimpleQueue()
        self._runs: dict[str, JobRun] = {}
        self._backlog = Backlog()
        self._queue_was_empty = False  # as of the last rescan: what --drain waits for
        self._stopping = False
        self._last_rescan = self._last_tick = self._last_prune = 0.0
        self._manager: Optional[Backend] = None
        self._emit = spool.events.emit

    # called from other threads

    def post(self, message: object) -> None:
        self._messages.put(message)

    def request_stop(self, signum=None, frame=None) -> None:
        """Stop taking jobs, checkpoint the running ones, and return from `run`."""
        self._stopping = True
        self.post(_Wake())

    # the loop

    def run(self) -> int:
        """Run until stopped; returns the exit code (0)."""
        self.spool.ensure()
        allow_long_integers()
        # The loop, the pools' result threads and the supervisor hand work to each other
        # many times per chunk; the default 5 ms GIL switch interval would be paid each time.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        registry().guard_loads(self.config.task_load_seconds)  # a plugin's hang is not ours
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.request_stop)
        metrics = None
        if self.config.metrics_port is not None:
            from .metrics import serve_metrics  # prometheus_client: only when asked for

            metrics = serve_metrics(self.spool, self.config.metrics_port)
        self.spool.keep_spares()
        self._manager = self._open_backend(self.config, self.post, self._emit)
        observer = watch_jobs(self.spool.jobs, lambda name: self.post(_FileArrived(name)))
        self._backlog.start_watching()
        entry = self._register()
        log.info("daemon started on %s (%d processes)", self.spool.root, self.config.total_processes)
        self._emit(events.DAEMON_STARTED, root=str(self.spool.root),
                   processes=self.config.total_processes)
        try:
            while not self._stopping:
                try:
                    self._handle(self._next_message())
                    if time.monotonic() - self._last_tick >= TICK_SECONDS:
                        self._tick()
                    elif not self._stopping:
                        self._claim_from_backlog()  # a job may have finished: room for one
                    if self.drain and not self._runs and self._queue_was_empty:
                        break
                except Exception:  # the disk failed under us, or a bug: log it, go on
                    log.exception("daemon loop error; carrying on")
                    time.sleep(ERROR_PAUSE_SECONDS)
        finally:
            self._suspend_all()
            entry.remove()
            self._manager.shutdown()
            self.spool.drop_spares()
            observer.stop()
            observer.join(2)
            if metrics is not None:
                metrics.close()
            log.info("daemon stopped")
            self._emit(events.DAEMON_STOPPED)
        return 0

    def _register(self):
        """Enter this daemon in the spool (`runner status` shows it), saying first which
        daemons already serve it: they share the work, each job run by one of them."""
        for other in daemons.serving(self.spool):
            log.warning("another daemon already serves this spool: pid %s on %s, since %s "
                        "(%s); both take jobs, each job runs on one of them",
                        other.get("pid"), other.get("host"), other.get("since"),
                        other.get("backend"))
        backend = self.config.backend
        if self.config.dask is not None and backend == "dask":
            backend = f"dask {self.config.dask.scheduler}"
        return daemons.register(self.spool, {
            "host": socket.gethostname(), "pid": os.getpid(), "since": iso(time.time()),
            "backend": backend, "processes": self.config.total_processes,
            "version": __version__, "tasks": registry().releases()})

    def _next_message(self) -> object:
        # nothing to do now: make spares for the jobs to come (spares.py), one at a time,
        # so that a message that comes meanwhile waits for one at most
        while self._messages.empty() and self.spool.make_spare():
            pass
        try:
            return self._messages.get(timeout=TICK_SECONDS)
        except queue.Empty:
            return _Wake()

    def _handle(self, message: object) -> None:
        if isinstance(message, _FileArrived):
            queued = self.spool.queue.get(message.name)
            if queued is not None:
                self._backlog.announce(queued)
        elif isinstance(message, ChunkFinished):
            submission = self._manager.take(message.token)
            if submission is not None:
                self._guarded(submission.owner, submission.owner.chunk_finished, submission,
                              message.result)
        elif isinstance(message, ChunkRaised):
            submission = self._manager.take(message.token)
            if submission is not None:
                self._guarded(submission.owner, submission.owner.chunk_raised, submission,
                              message.error)
        elif isinstance(message, WorkerLost):
            for submission, cause in self._manager.worker_lost(message):
                self._guarded(submission.owner, submission.owner.chunk_lost, submission, cause)
        self._forget_finished()

    def _guarded(self, run: JobRun, method, *args) -> None:
        """Call a run's method, never letting it stop the daemon. A disk error leaves the
        job in running/, unlocked, to be resumed at a rescan once the disk is back; any
        other error (a bug) fails the job."""
        try:
            try:
                method(*args)
            except OSError:
                raise
            except Exception as error:
                log.exception("job %s: error", run.job.id)
                run.fail(JobError(f"the runner hit an error: {type(error).__name__}: {error}",
                                  fix="report this as a bug in runner, with the job file").to_dict())
        except OSError as error:
            log.error("job %s: the spool's disk failed (%s); it will be resumed when the "
                      "disk is back", run.job.id, error)
            self._emit(events.DISK_ERROR, run.job.id, error=str(error))
            run.abandon()

    def _tick(self) -> None:
        self._last_tick = time.monotonic()
        self._manager.tick()
        for run in list(self._runs.values()):
            self._guarded(run, run.cancel if run.cancel_requested() else run.advance)
        self._forget_finished()
        if self._stopping:
            return
        now = time.monotonic()
        if now - self._last_rescan >= self.config.rescan_seconds:
            self._last_rescan = now
            try:
                self.spool.ensure()  # a folder removed under us comes back
            except SpoolError as error:
                log.error("the spool cannot be repaired (%s); jobs wait until it can", error)
            self._resume_orphans()
            self._apply_retention(now)
            queued = self.spool.queue.files()
            self._queue_was_empty = not queued and not self._backlog
            self._backlog.keep_only({waiting.path.name for waiting in queued})
            limit = self.config.limits.queued_jobs
            for waiting in queued[:limit]:
                self._backlog.add(waiting)
            for waiting in queued[limit:]:
                self._refuse_over_queue_limit(waiting.path, len(queued))
        self._claim_from_backlog()

    def _apply_retention(self, now: float) -> None:
        """Prune jobs past `retention_days`, every PRUNE_EVERY_SECONDS and at most
        PRUNE_BATCH_JOBS at a time, so that a big spool never stalls the loop."""
        days = self.config.retention_days
        if days is None or now - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        pruned = prune(self.spool, days * 86400, limit=PRUNE_BATCH_JOBS)
        if pruned:
            log.info("pruned %d finished jobs older than retention_days = %g", len(pruned), days)
            if len(pruned) == PRUNE_BATCH_JOBS:
                self._last_prune = 0.0  # more may be due: go on at the next rescan

    def _forget_finished(self) -> None:
        for job_id in [job_id for job_id, run in self._runs.items() if run.finished]:
            del self._runs[job_id]

    # taking jobs

    def _claim_from_backlog(self) -> None:
        """Claim queued files, first in run order, while this daemon has room (the
        backlog says which files are whole)."""
        while len(self._runs) < self.config.max_running_jobs:
            path = self._backlog.next_to_claim()
            if path is None:
                return
            jobdir = self.spool.claim(path) if os.path.lexists(path) else None
            if jobdir is not None:
                self._start(jobdir)

    def _refuse_over_queue_limit(self, path: Path, queued: int) -> None:
        if probe_writers(path) is Writers.WRITING:
            return  # refused once whole: its writer would write on into a failed job
        jobdir = self.spool.claim(path) if os.path.lexists(path) else None
        if jobdir is not None:
            limit = self.config.limits.queued_jobs
            self._fail_unrunnable(jobdir, JobError(
                f"jobs/ holds {queued} jobs, over the limit limits.queued_jobs = {limit}; "
                "this one, among the newest, was not queued", file=f"jobs/{path.name}",
                fix="drop it again once the queue is shorter, or raise limits.queued_jobs "
                "in config.yaml").to_dict())

    def _resume_orphans(self) -> None:
        for jobdir in self.spool.adopt_orphans():
            log.info("resuming job %s: found in %s/ with no process holding it",
                     jobdir.id, jobdir.path.parent.name)
            self._start(jobdir)

    def _start(self, jobdir: JobDir) -> None:
        """Validate and start a claimed (or adopted) job; a bad one fails at once."""
        shown = f"jobs/{jobdir.source_name()}"
        try:
            job, resumed = load_claimed(self.spool, jobdir, self.config)
            run = JobRun(self.spool, jobdir, job, self.config, self._manager, resumed)
        except JobError as error:
            self._fail_unrunnable(jobdir, error.to_dict())
            return
        except OSError as error:  # the spool's disk, not the job: wait for it to mend
            log.error("job from %s cannot start: %s; it will be tried again", shown, error)
            self._emit(events.DISK_ERROR, None, file=shown, error=str(error))
            jobdir.release()
            return
        except Exception as error:  # a bug must not take the daemon down with it
            log.exception("job from %s: unexpected error", shown)
            self._fail_unrunnable(jobdir, JobError(
                f"the runner hit an internal error: {type(error).__name__}: {error}",
                file=shown, fix="report this as a bug in runner, with the job file").to_dict())
            return
        self._runs[job.id] = run
        log.info("job %s %s (%d numbers)", job.id, "resumed" if resumed else "started", job.total)
        self._guarded(run, run.advance)

    def _fail_unrunnable(self, jobdir: JobDir, error: dict) -> None:
        """Give a job that cannot run its failed result (or, if the disk fails too, leave
        it to be tried again)."""
        try:
            if self.spool.is_claiming(jobdir):
                self.spool.place_running(jobdir, peek_job_id(jobdir.file(JOB_FILE),
                                                             jobdir.source_name()))
            log.warning("job %s failed: %s", jobdir.id, error["message"])
            now = time.time()
            outcome = Outcome(JobState.FAILED, queued_at(jobdir), now, now, error=error)
            commit_result(self.spool, jobdir, outcome, None, self.config.inline_max)
        except OSError as disk_error:
            log.error("job %s: cannot write its result (%s); it will be tried again",
                      jobdir.id, disk_error)
            self._emit(events.DISK_ERROR, jobdir.id, error=str(disk_error))
            jobdir.release()

    def _suspend_all(self) -> None:
        for run in self._runs.values():
            run.suspend()
        self._runs.clear()

