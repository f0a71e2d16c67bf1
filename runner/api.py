"""The Python API: what a script imports to use a spool, beside the `runner` command.

    from runner import api

    spool = api.Spool("~/spool")
    job = api.submit(spool, range(1, 1000), priority=5)
    result = api.wait(spool, job)            # the result file, as a dict
    primes = list(api.results(spool, job))   # streamed from outbox/, never all at once

Every function takes the `Spool` first and works from any process, with or
without a daemon running (a job runs once some daemon takes it). Failures raise
`RunnerError`s: `NotASpoolError` (`Spool(path)` of a folder that is not a spool),
`NoSuchJobError`, `JobStateError`, `JobIdTakenError`, `BadJobIdError` (all
`SpoolError`s), and `JobError` (a job the daemon would refuse, or numbers that are not
ints, refused before it is queued); `wait` raises TimeoutError when given a timeout
that passes.
"""

from __future__ import annotations

from .client import cancel, daemons, inspect, logs, results, status, wait
from .errors import (BadJobIdError, JobError, JobIdTakenError, JobStateError, NoSuchJobError,
                     NotASpoolError, RunnerError, SpoolError)
from .job import JobState
from .retention import prune
from .spool import Spool
from .submission import retry, submit, submit_file, submit_job_file, submit_numbers

__all__ = ["BadJobIdError", "JobError", "JobIdTakenError", "JobState", "JobStateError",
           "NoSuchJobError", "NotASpoolError", "RunnerError", "Spool", "SpoolError", "cancel",
           "daemons", "inspect", "logs", "prune", "results", "retry", "status", "submit",
           "submit_file", "submit_job_file", "submit_numbers", "wait"]
