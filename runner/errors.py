"""Exceptions of the runner, each written for the person who must act on it.

A `JobError` says what is wrong with a job, where (file, line, field) and how
to fix it; its `to_dict` is what lands under `error:` in a failed result.
"""

from __future__ import annotations

import dataclasses
import reprlib
import shlex
from dataclasses import dataclass

from .job import JOB_ID_RULE

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 40
_SHORT.maxlevel = 2


def short_repr(value: object) -> str:
    """`value` as a message quotes it: its repr, cut to about 40 characters."""
    return _SHORT.repr(value)


class RunnerError(Exception):
    """Base class: something the runner cannot do, explained in plain words."""

    def for_cli(self) -> str:
        """The message in the command line's words (its options, not the API's arguments)."""
        return str(self)


class ConfigError(RunnerError):
    """config.yaml is missing, unreadable or holds a bad setting."""


class SpoolError(RunnerError):
    """The spool cannot do what was asked (unknown job, wrong state, not a spool)."""


class NotASpoolError(SpoolError):
    """The folder given as a spool is none: nothing was made there."""

    def __init__(self, root, why: str = "it has no config.yaml and no jobs/ folder"):
        self.root, self.why = root, why
        super().__init__(f"{root} is not a spool ({why}): make one with `runner init {root}`, "
                         "or open an existing one, api.Spool(PATH)")

    def for_cli(self) -> str:
        return (f"{self.root} is not a spool ({self.why}): make one with `runner init "
                f"{self.root}`, or give an existing one with --root DIR (or $RUNNER_ROOT)")


class NoSuchJobError(SpoolError):
    """No job of the spool has the id asked for."""

    def __init__(self, job_id: str, root):
        self.job_id, self.root = job_id, root
        super().__init__(f"no job with id {job_id!r} in {root}; api.status(spool) lists them")

    def for_cli(self) -> str:
        return f"no job with id {self.job_id!r} in {self.root}; `runner status` lists them"


class JobStateError(SpoolError):
    """The job is not in a state that allows what was asked (e.g. cancel a finished job)."""


class _RefusedIdError(SpoolError):
    """An id asked for that the job cannot have: why, as a script asked for it (job_id=)
    and as the command line did (--id), then how to ask again."""

    def __init__(self, job_id, why: str, why_for_cli: str):
        self.job_id, self._why_for_cli = job_id, why_for_cli
        super().__init__(f"{why}; pass another job_id=, or none to get a free one")

    def for_cli(self) -> str:
        return f"{self._why_for_cli}; pick another --id, or leave it out to get a free one"


class JobIdTakenError(_RefusedIdError):
    """The id asked for belongs to a job of the spool already."""

    def __init__(self, job_id: str):
        taken = f"a job with id {job_id!r} exists already"
        super().__init__(job_id, taken, taken)


class BadJobIdError(_RefusedIdError):
    """The id asked for is not one a job may have."""

    def __init__(self, job_id):
        super().__init__(job_id, f"job_id={job_id!r}: an id {JOB_ID_RULE}",
                         f"--id {shlex.quote(str(job_id))}: an id {JOB_ID_RULE}")


@dataclass
class JobError(RunnerError):
    """A job cannot run as written; every field is meant for a person to act on."""

    what: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None
    fix: str | None = None
    option: str | None = None  # the command-line option that set the bad value, as typed
    details: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message())

    def locate(self, **where) -> "JobError":
        """Fill in where the problem is (file, line, column, field), keeping what is known."""
        for key, value in where.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        self.args = (self.message(),)
        return self

    def where(self) -> str:
        """`jobs/a.yaml line 3, column 5, field pool.processes`, as much as is known, or
        the option (`--processes 64`) that set the value."""
        if self.option:
            return self.option
        parts = []
        if self.file:
            parts.append(self.file)
        if self.line is not None:
            parts.append(f"line {self.line}" + (f", column {self.column}" if self.column else ""))
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)

    def message(self) -> str:
        """One line for logs and terminals: where, what, and the fix."""
        text = f"{self.where()}: {self.what}" if self.where() else self.what
        if not self.fix:
            return text
        return f"{text}{'' if text.endswith(('.', '?')) else '.'} Fix: {self.fix}"

    def to_dict(self) -> dict:
        """The `error:` mapping of a failed result file."""
        out: dict = {"message": self.message(), "what": self.what}
        for key in ("file", "line", "column", "field", "fix"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.details)
        return out
