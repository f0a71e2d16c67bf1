"""The spool as `runner status`, `inspect`, the dashboard and the metrics read it: every
job, where it is and what its progress says, from the places on disk alone.

A reader takes no lock and changes nothing, so it may run beside any daemon. A job
that moves while it is read may be seen twice; the later sighting wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

from .errors import NoSuchJobError
from .job import FINISHED_STATES, JOB_ID_PATTERN, JobState, peek_job
from .jobdir import JOB_FILE, PROGRESS_FILE, JobDir
from .spool import Spool, entries


class JobInfo(NamedTuple):
    """What `status` shows of one job, read from the spool alone."""

    id: str
    state: JobState
    progress: dict
    path: Path


def find(spool: Spool, job_id: str) -> Optional[JobInfo]:
    """The job with this id, wherever it is, or None. Its own folder is looked for first
    (a stat each), then the queue; a job that left the queue as it was read (claimed,
    then started) is looked for again in the folders it moves on to."""
    if not JOB_ID_PATTERN.fullmatch(job_id):
        return None
    moved_on = (JobState.RUNNING, *FINISHED_STATES)
    for info in jobs_in(spool, *moved_on, JobState.QUEUED, *moved_on, only=job_id):
        return info
    return None


def get(spool: Spool, job_id: str) -> JobInfo:
    """The job with this id, wherever it is; NoSuchJobError if there is none."""
    info = find(spool, job_id)
    if info is None:
        raise NoSuchJobError(job_id, spool.root)
    return info


def list_jobs(spool: Spool) -> list[JobInfo]:
    """Every job of the spool, once: queued, running and finished. The places are read
    in the order jobs move through them, so a job that moves during the reading is seen
    twice; the later (more advanced) sighting wins."""
    latest = {info.id: info for info in jobs_in(spool, JobState.QUEUED, JobState.RUNNING,
                                                *FINISHED_STATES)}
    return list(latest.values())


def count_jobs(spool: Spool) -> dict[JobState, int]:
    """How many jobs each state holds, by counting names (no file is read): cheap enough
    for every metrics scrape. A job moving meanwhile may count twice or not."""
    counts = {state: len(entries(spool.place(state))) for state in JobState
              if state is not JobState.QUEUED}
    try:
        queued = len(spool.queue.files())
    except FileNotFoundError:
        queued = 0
    counts[JobState.QUEUED] = queued + len(entries(spool.claiming))
    return counts


def jobs_in(spool: Spool, *states: JobState, only: Optional[str] = None) -> Iterator[JobInfo]:
    """The jobs in `states` (only the one with id `only`, if given), place by place."""
    for state in states:
        if state is JobState.QUEUED:
            yield from _queued(spool, only)
            continue
        names = [only] if only else sorted(os.listdir(spool.place(state)))
        for name in names:
            folder = spool.place(state) / name
            if folder.is_dir():
                yield JobInfo(name, _committed(spool, name) if state is JobState.RUNNING else state,
                              JobDir(folder).read_json(PROGRESS_FILE) or {}, folder)


def _committed(spool: Spool, job_id: str) -> JobState:
    """The state of a job found in running/: its result's, once that is in outbox/. The
    result's rename finishes a job; its folder follows to its final place a moment later
    (after the outbox's fsync), or, if its daemon died in between, when another daemon
    adopts it."""
    return spool.read_result_state(job_id) or JobState.RUNNING


def _queued(spool: Spool, only: Optional[str]) -> Iterator[JobInfo]:
    for queued in spool.queue.files():
        if only is None or queued.id == only:
            yield JobInfo(queued.id, JobState.QUEUED, {"priority": queued.priority},
                          queued.path)
    for folder in entries(spool.claiming):  # claimed, not yet started: still queued
        job_id, priority = peek_job(folder / JOB_FILE, JobDir(folder).source_name())
        if only is None or job_id == only:
            yield JobInfo(job_id, JobState.QUEUED, {"priority": priority}, folder / JOB_FILE)
