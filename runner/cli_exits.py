"""How a `runner` command ends: its exit codes, and a failure told on stderr in words
for whoever must act (`runner: jobs/a.yaml line 3: ... Fix: ...`)."""

from __future__ import annotations

from pathlib import Path

import typer

from .errors import RunnerError
from .spool import Spool

EXIT_USAGE = 2  # not a spool, a bad option or file: nothing was done
# `runner submit --wait` exits with the job's outcome
EXIT_DONE, EXIT_FAILED, EXIT_NOT_QUEUED, EXIT_CANCELLED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
OUTCOME_EXIT = {"done": EXIT_DONE, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}


def fail(error: Exception | str, code: int = 1) -> None:
    """Say `error` on stderr and exit with `code` (a RunnerError in its own words for the
    command line; an OSError as `file: reason`, without its errno)."""
    if isinstance(error, RunnerError):
        error = error.for_cli()
    elif isinstance(error, OSError) and error.strerror:  # `x.txt: No such file...`, no [Errno 2]
        error = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    typer.echo(f"runner: {error}", err=True)
    raise typer.Exit(code)


def open_spool(root: Path) -> Spool:
    """The spool at `root`, with its folders; exits 2 saying what to do if it is none
    (nothing is made there: only `runner init` makes a spool)."""
    try:
        spool = Spool(root)
        spool.ensure()
    except RunnerError as error:
        fail(error, EXIT_USAGE)
    return spool
