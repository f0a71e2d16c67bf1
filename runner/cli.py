"""The `runner` command: a thin typer layer over runner.client and runner.daemon.

Every command finds its spool from --root, else $RUNNER_ROOT, else the current
folder. Commands that print data take --json for scripts.
"""

import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

gc.disable()  # typer, click and the runner make 26,000 objects that live as long as the command
import typer

from . import __version__
from .cli_exits import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NOT_QUEUED, EXIT_USAGE, OUTCOME_EXIT,
                        fail, open_spool)
from .cli_options import (JsonOption, OnError, RootOption, StartMethod, as_typed, job_settings,
                          parse_params, parse_seconds)
from .errors import JobError, NotASpoolError, RunnerError
from .job import PRIORITY_MAX
from .spool import Spool

gc.freeze()  # never to be walked again: the collector did, over and over as they grew, and
gc.enable()  # at exit: 12 of the 60 ms of `runner --help` (bench/startup.py)

# Plain click help: typer's rich panels import rich.markdown and markdown_it, which doubles
# the time `runner --help` takes (0.09 s against 0.19 s, bench/startup.py).
app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  help="A job runner for CPU-bound work with a file-based queue.")


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
    # numpy's OpenBLAS starts a thread per core as it loads (about 50 ms of CPU here; on a
    # 64-core machine, 63 threads in each worker). runner does no linear algebra, and a
    # pool's workers already fill every core: one BLAS thread each, as Dask's nanny gives
    # its workers (a value set in the environment wins)
    for threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(threads, "1")


@app.command()
def init(folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="Where to make the spool.")]):
    """Make a spool: config.yaml with every setting commented, jobs/ and outbox/.

    Example: runner init ~/spool
    """
    try:
        spool = Spool.create(folder)
    except RunnerError as error:
        fail(error, EXIT_USAGE)
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

    spool = open_spool(root)
    try:
        serve(spool, port, on_ready=lambda url: typer.echo(f"dashboard of {spool.root} at {url} "
                                                           "(Ctrl-C to stop)"))
    except RunnerError as error:
        fail(error)
    except OSError as error:
        fail(f"cannot serve on 127.0.0.1:{port}: {error.strerror or error}; "
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
    from .daemon_process import exec_daemon

    exec_daemon(open_spool(root).root, drain, verbose)


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(metavar="FILE",
        help="A numbers file (one integer a line), a YAML job file (.yaml/.yml), or - for "
        "numbers on stdin.", dir_okay=False, allow_dash=True)],
    root: RootOption = Path("."),
    id: Annotated[Optional[str], typer.Option("--id", help="The job's id (default: the file's stem; 'stdin' for -).")] = None,
    processes: Annotated[Optional[int], typer.Option(min=1, help="Worker processes.")] = None,
    chunksize: Annotated[Optional[int], typer.Option(min=1, help="Numbers per chunk.")] = None,
    maxtasksperchild: Annotated[Optional[int], typer.Option(min=1, help="Chunks per worker before it is replaced.")] = None,
    start_method: Annotated[Optional[StartMethod], typer.Option(help="How workers start.")] = None,
    unordered: Annotated[bool, typer.Option("--unordered", help="Results in completion order.")] = False,
    timeout: Annotated[Optional[float], typer.Option(min=0.001, help="Seconds one chunk may run.")] = None,
    priority: Annotated[Optional[int], typer.Option(
        min=-PRIORITY_MAX, max=PRIORITY_MAX,
        help="Higher runs first (default 0); equal priorities run in the order queued.")] = None,
    retries: Annotated[Optional[int], typer.Option(
        min=0, help="Retries of a chunk whose worker died (default: config.yaml's).")] = None,
    task: Annotated[Optional[str], typer.Option(
        help="The registered task to run (default: primes; `runner tasks` lists them).")] = None,
    on_error: Annotated[Optional[OnError], typer.Option(
        help="An exception on one number: fail the job (default), or record it as that "
        "number's value (map tasks).")] = None,
    param: Annotated[Optional[list[str]], typer.Option(
        help="A param of the task, NAME=VALUE (VALUE read as YAML: 1000, true, text); "
        "repeat it for more.")] = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="Show the job's progress (on stderr) and exit with its outcome.")] = False,
    as_json: JsonOption = False,
):
    """Queue a job and print its id.

    With --wait, follow it to the end: a progress bar on a terminal, plain lines
    otherwise, then exit 0 if it is done, 1 if it failed, 3 if it was cancelled
    (2: it could not be queued; 130: Ctrl-C stopped the waiting, not the job).
    With --json and --wait, the result document is printed as JSON.

    Example: runner submit numbers.txt --processes 2 --priority 5 --wait
    Example: seq 1 1000 | runner submit - --id first-thousand
    """
    from . import submission

    try:
        params = parse_params(param or [])
    except ValueError as error:
        fail(error, EXIT_NOT_QUEUED)
    pool, fields = job_settings(
        processes=processes, chunksize=chunksize, maxtasksperchild=maxtasksperchild,
        start_method=start_method.value if start_method else None, unordered=unordered,
        params=params, timeout=timeout, priority=priority, retries=retries, task=task,
        on_error=on_error.value if on_error else None)
    spool = open_spool(root)
    try:
        job_id = submission.submit_file(spool, str(file), id, pool, fields,
                                        stdin=sys.stdin.buffer)
    except JobError as error:
        if error.option:  # a value the person gave as an option: say it as they typed it
            error.option = as_typed(error.field, pool, fields)
        fail(error.locate(), EXIT_NOT_QUEUED)
    except (RunnerError, OSError) as error:
        fail(error, EXIT_NOT_QUEUED)
    if not wait:
        if as_json:
            _print_json({"id": job_id})
        else:
            typer.echo(job_id)
        return
    if not as_json:
        typer.echo(job_id)
    raise typer.Exit(_wait_for(spool, job_id, as_json))


def _wait_for(spool: Spool, job_id: str, as_json: bool) -> int:
    from . import client
    from .view import WaitProgress, daemons_lines, result_counts

    try:
        with WaitProgress(job_id) as shown:
            def say_daemons(daemons: list[dict]) -> None:
                shown.say(f"runner: {daemons_lines(daemons, client.no_daemon_hint(spool))}"
                          + ("; waiting for one" if not daemons else ""))

            result = client.wait(spool, job_id, on_progress=shown.update, on_daemons=say_daemons)
    except KeyboardInterrupt:
        typer.echo(f"runner: stopped waiting; job {job_id} goes on (`runner status`)", err=True)
        return EXIT_INTERRUPTED
    except RunnerError as error:
        fail(error)
    state = result.get("state")
    if as_json:
        _print_json(result)
    else:
        why = (result.get("error") or {}).get("message")
        typer.echo(f"{job_id}: {state}, {result_counts(result)} "
                   f"({spool.result_path(job_id).relative_to(spool.root)})"
                   + (f": {why}" if why else ""), err=True)
    return OUTCOME_EXIT.get(state, EXIT_FAILED)


@app.command()
def status(
    root: RootOption = Path("."),
    as_json: JsonOption = False,
    watch: Annotated[bool, typer.Option(
        "--watch", "-w", help="Redraw every --interval seconds until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between redraws with --watch.")] = 1.0,
):
    """List the daemons serving the spool, then every job: state, task, priority,
    progress (a bar on a terminal), numbers found, rate, ETA. A running job whose daemon
    is gone shows as `suspended`.

    Not on a terminal the table is tab-separated, a header first, and the daemons go
    to stderr; with --watch a blank line separates the redraws. --json prints
    {"spool", "daemons", "jobs"} (with --watch: one such object a line).

    Example: runner status --watch --interval 0.5
    """
    from . import client
    from .view import daemons_lines, print_status, watch_status

    spool = open_spool(root)

    def snapshot() -> tuple[dict, str]:
        served = client.daemons(spool)  # before the jobs: a job seen served had its daemon
        shown = {"spool": str(spool.root), "daemons": served, "jobs": client.status(spool)}
        return shown, daemons_lines(served, client.no_daemon_hint(spool))

    try:
        if watch:
            watch_status(snapshot, interval, as_json)
            return
        shown, daemons = snapshot()
        if as_json:
            _print_json(shown)
        else:
            print_status(shown["jobs"], daemons)
    except RunnerError as error:
        fail(error)
    except KeyboardInterrupt:
        pass


@app.command()
def inspect(job_id: Annotated[str, typer.Argument(metavar="JOB", help="The job's id.")],
            root: RootOption = Path("."), as_json: JsonOption = False):
    """Show everything about one job: spec, state, progress and result.

    Example: runner inspect book-case-study
    """
    from . import client

    try:
        details = client.inspect(open_spool(root), job_id)
    except RunnerError as error:
        fail(error)
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
        state = client.cancel(open_spool(root), job_id)
    except RunnerError as error:
        fail(error)
    if as_json:
        _print_json({"id": job_id, "state": state.value})
    else:
        typer.echo(f"{job_id}: {state.value}")


@app.command()
def retry(job_id: Annotated[str, typer.Argument(metavar="JOB", help="A failed or cancelled job's id.")],
          root: RootOption = Path("."), as_json: JsonOption = False):
    """Queue a failed or cancelled job again and print the new job's id.

    The new job is made from the old one's saved job file and gets the first free id
    like JOB (JOB-2, JOB-3, ...); the old job and its result stay as they are.

    Example: runner retry big-job
    """
    from . import submission

    try:
        new_id = submission.retry(open_spool(root), job_id)
    except (RunnerError, OSError) as error:
        fail(error)
    if as_json:
        _print_json({"id": new_id, "retry_of": job_id})
    else:
        typer.echo(new_id)


@app.command()
def prune(
    older_than: Annotated[str, typer.Option(
        "--older-than", help="Age of the results to remove: 30m, 12h, 7d, 2w, ...")],
    root: RootOption = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    as_json: JsonOption = False,
):
    """Remove finished jobs whose result is older than --older-than.

    A finished job (done, failed, cancelled) goes with its folder in jobs/.state/ and
    its files in outbox/; each one removed is printed (id, state, when it finished,
    tab-separated). Queued and running jobs stay.

    Example: runner prune --older-than 7d --dry-run
    """
    from .retention import prune as prune_jobs

    seconds = parse_seconds(older_than)
    spool = open_spool(root)
    try:
        removed = prune_jobs(spool, seconds, dry_run)
    except (RunnerError, OSError) as error:
        fail(error)
    if as_json:
        _print_json(removed)
        return
    verb = "would remove" if dry_run else "removed"
    for job in removed:
        typer.echo(f"{verb}\t{job['id']}\t{job['state']}\t{job['finished']}")
    typer.echo(f"{verb} {len(removed)} job{'s' if len(removed) != 1 else ''}", err=True)


@app.command()
def tasks(as_json: JsonOption = False,
          root: RootOption = Path("."),
          load_seconds: Annotated[Optional[float], typer.Option(
              "--load-seconds", min=0.1, show_default=False,
              help="Seconds a plugin's import may take before it is listed as broken "
                   "(default: the spool's task_load_seconds, as its daemon gives it, where "
                   "--root is a spool; else 20).")] = None):
    """List the tasks a job may name (`task:`): name, kind, package and version,
    description and params; and every plugin that failed to load, with its error.

    Tasks are registered by installed packages under the entry-point group
    `runner.tasks`: what this Python has installed, as a daemon started now would find
    them. Example: runner tasks --json
    """
    from .registry import catalogue
    from .view import task_lines

    shown = catalogue(load_seconds or _task_load_seconds(root))
    if as_json:
        _print_json(shown)
    else:
        typer.echo(task_lines(shown))


def _task_load_seconds(root: Path) -> float:
    """The time a plugin's trial import may take in the daemon of the spool at `root`:
    its config.yaml's task_load_seconds (exits 2 if that file is wrong); the default
    where `root` is no spool (a folder's own config.yaml is no concern of runner's)."""
    from .config_file import TASK_LOAD_SECONDS

    try:
        Spool(root)
    except NotASpoolError:
        return TASK_LOAD_SECONDS
    from .config import load_config

    try:
        return load_config(root).task_load_seconds
    except RunnerError as error:
        fail(error, EXIT_USAGE)


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
        for record in client.logs(open_spool(root), job_id, follow):
            typer.echo(json.dumps(record) if as_json else format_event(record, color))
    except RunnerError as error:
        fail(error)
    except KeyboardInterrupt:
        pass
