"""The `runner` command: a thin typer layer over runner.client and runner.daemon.

Every command finds its spool from --root, else $RUNNER_ROOT, else the current
folder. Commands that print data take --json for scripts.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from . import __version__
from .errors import RunnerError
from .spool import Spool

app = typer.Typer(add_completion=True, no_args_is_help=True,
                  help="A job runner for CPU-bound work with a file-based queue.")

RootOption = Annotated[Path, typer.Option(
    "--root", envvar="RUNNER_ROOT", help="The spool's folder (default: $RUNNER_ROOT, else here).",
    file_okay=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]


class StartMethod(str, Enum):
    fork = "fork"
    spawn = "spawn"
    forkserver = "forkserver"


def _fail(error: Exception, code: int = 1) -> None:
    typer.echo(f"runner: {error}", err=True)
    raise typer.Exit(code)


def _print_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"runner {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None):
    """A job runner for CPU-bound work with a file-based queue."""


@app.command()
def init(folder: Annotated[Path, typer.Argument(help="Where to make the spool.")]):
    """Make a spool: config.yaml with every setting commented, jobs/ and outbox/.

    Example: runner init ~/spool
    """
    spool = Spool.create(folder)
    typer.echo(f"spool ready at {spool.root}: drop job files into {spool.jobs}")


@app.command()
def dashboard(
    root: RootOption = Path("."),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")] = 8765,
):
    """Serve a read-only web page of the jobs and their live progress on 127.0.0.1, until Ctrl-C.

    Example: runner dashboard --port 8765   (then open http://127.0.0.1:8765/)
    """
    from .dashboard import serve

    spool = Spool(root)
    try:
        spool.ensure()
        serve(spool, port, on_ready=lambda url: typer.echo(f"dashboard of {spool.root} at {url} "
                                                           "(Ctrl-C to stop)"))
    except RunnerError as error:
        _fail(error)
    except OSError as error:
        _fail(f"cannot serve on 127.0.0.1:{port}: {error.strerror or error}; "
              "pick another port with --port")


@app.command()
def start(
    root: RootOption = Path("."),
    drain: Annotated[bool, typer.Option("--drain", help="Run the queued jobs, then exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every event, each chunk's too, and each move in the spool.")] = False,
):
    """Run the daemon in the foreground until SIGTERM or Ctrl-C.

    Example: runner start --drain   (run every job in jobs/, then exit)
    """
    from .config import load_config
    from .daemon import Daemon, configure_logging

    try:
        spool = Spool(root)
        spool.ensure()
        configure_logging(spool, verbose)
        config = load_config(spool.root)
        code = Daemon(spool, config, drain=drain).run()
    except RunnerError as error:
        _fail(error, 2)
    raise typer.Exit(code)


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(
        help="A numbers file (one integer a line) or a YAML job file (.yaml/.yml).",
        exists=True, dir_okay=False, readable=True)],
    root: RootOption = Path("."),
    id: Annotated[Optional[str], typer.Option("--id", help="The job's id (default: the file's stem).")] = None,
    processes: Annotated[Optional[int], typer.Option(min=1, help="Worker processes.")] = None,
    chunksize: Annotated[Optional[int], typer.Option(min=1, help="Numbers per chunk.")] = None,
    maxtasksperchild: Annotated[Optional[int], typer.Option(min=1, help="Chunks per worker before it is replaced.")] = None,
    start_method: Annotated[Optional[StartMethod], typer.Option(help="How workers start.")] = None,
    unordered: Annotated[bool, typer.Option("--unordered", help="Primes in completion order.")] = False,
    timeout: Annotated[Optional[float], typer.Option(min=0.001, help="Seconds one chunk may run.")] = None,
    as_json: JsonOption = False,
):
    """Queue a job and print its id.

    Example: runner submit numbers.txt --processes 2 --chunksize 10000
    """
    from . import client

    pool = {key: value for key, value in (
        ("processes", processes), ("chunksize", chunksize), ("maxtasksperchild", maxtasksperchild),
        ("start_method", start_method.value if start_method else None),
        ("ordered", False if unordered else None)) if value is not None}
    spool = Spool(root)
    try:
        spool.ensure()
        if file.suffix in (".yaml", ".yml"):
            job_id = client.submit_job_file(spool, file, id, pool, timeout)
        else:
            with open(file, "rb") as source:
                job_id = client.submit_numbers(spool, source, file.name, id, pool, timeout)
    except (RunnerError, OSError) as error:
        _fail(error)
    if as_json:
        _print_json({"id": job_id})
    else:
        typer.echo(job_id)


@app.command()
def status(root: RootOption = Path("."), as_json: JsonOption = False):
    """List every job with its state and progress.

    Example: runner status --json
    """
    from . import client

    spool = Spool(root)
    try:
        spool.ensure()
        jobs = client.status(spool)
    except RunnerError as error:
        _fail(error)
    if as_json:
        _print_json(jobs)
        return
    from .view import print_status

    print_status(jobs)


@app.command()
def inspect(job_id: Annotated[str, typer.Argument(metavar="JOB", help="The job's id.")],
            root: RootOption = Path("."), as_json: JsonOption = False):
    """Show everything about one job: spec, state, progress and result.

    Example: runner inspect book-case-study
    """
    from . import client

    try:
        details = client.inspect(Spool(root), job_id)
    except RunnerError as error:
        _fail(error)
    if as_json:
        _print_json(details)
    else:
        import yaml

        typer.echo(yaml.safe_dump(details, sort_keys=False, width=100).rstrip())


@app.command()
def cancel(job_id: Annotated[str, typer.Argument(metavar="JOB", help="The job's id.")],
           root: RootOption = Path("."), as_json: JsonOption = False):
    """Cancel a queued or running job; its result file says `cancelled`.

    Example: runner cancel big-job
    """
    from . import client

    try:
        state = client.cancel(Spool(root), job_id)
    except RunnerError as error:
        _fail(error)
    if as_json:
        _print_json({"id": job_id, "state": state.value})
    else:
        typer.echo(f"{job_id}: {state.value}")


@app.command()
def logs(job_id: Annotated[Optional[str], typer.Argument(
             metavar="JOB", help="Only this job's events (default: every event).")] = None,
         root: RootOption = Path("."),
         follow: Annotated[bool, typer.Option(
             "--follow", "-f", help="Keep printing events as they happen, until Ctrl-C.")] = False,
         as_json: Annotated[bool, typer.Option(
             "--json", help="One JSON object a line, as stored, for scripts.")] = False):
    """Print the events log: every state change and fault, oldest first.

    Example: runner logs big-job --follow
    """
    from . import client
    from .view import format_event

    color = sys.stdout.isatty() and not as_json
    try:
        for record in client.logs(Spool(root), job_id, follow):
            typer.echo(json.dumps(record) if as_json else format_event(record, color))
    except RunnerError as error:
        _fail(error)
    except KeyboardInterrupt:
        pass
