"""How `runner status`, `runner submit --wait` and `runner logs` look: rich tables
and progress bars on a terminal, plain columns and lines otherwise; events one
readable line each."""

from __future__ import annotations

import json
import sys
import time
from typing import Callable


# Named colours, which every terminal has: rich's default bar styles are true colours that a
# 16-colour terminal shows both as grey, so a finished bar read like an empty one.
BAR_STYLES = dict(style="bright_black", complete_style="blue", finished_style="green")


def _progress(job: dict) -> str:
    total = job.get("total")
    if not total:
        return "-" if job["state"] == "queued" else f"{job['tested']}"
    return f"{job['tested']}/{total} ({100 * job['tested'] / total:.0f}%)"


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _rate(job: dict) -> str:
    return "-" if job.get("rate") is None else f"{job['rate']:,.0f}/s"


# FOUND: the numbers that gave output, as the job's task counts it (primes, kept numbers,
# values); TASK is "-" until a daemon starts the job and reads its task
_HEADER = ("ID", "STATE", "TASK", "PRIORITY", "PROGRESS", "FOUND", "RATE", "ETA", "ELAPSED")
_BAR_AFTER = 5  # the bar, on a terminal, goes right of PROGRESS
# what a job's output lines are, by how it reports them (results.output_kind)
_FOUND_NOUNS = {"primes": "primes", "filter": "kept", "map": "values"}


def _row(job: dict) -> tuple[str, ...]:
    state = "waiting" if job.get("waiting") else job["state"]  # running, but its backend is away
    return (job["id"], state, job.get("task") or "-", str(job.get("priority", 0)), _progress(job),
            str(job["found"]), _rate(job), _seconds(job.get("eta")), _seconds(job.get("elapsed")))


def _found_noun(job: dict) -> str:
    """What a job's found count counts; `found` until a daemon has started it and said
    what its task outputs (a queued `factor` job has no primes to count)."""
    return _FOUND_NOUNS.get(job.get("output"), "found")


def result_counts(result: dict) -> str:
    """A result's counts in words: `1000 tested, 168 primes` (`12 kept` for a filter
    task, `2 errors` when a task's errors were recorded)."""
    counts = [f"{result.get('numbers_tested', 0)} tested"]
    for key, noun in (("primes_found", "primes"), ("kept", "kept"), ("errors", "errors")):
        if key in result:
            counts.append(f"{result[key]} {noun}")
    return ", ".join(counts)


def status_lines(jobs: list[dict]) -> str:
    """The status as plain tab-separated columns, a header line first: for pipes."""
    return "\n".join("\t".join(row) for row in (_HEADER, *map(_row, jobs)))


def daemons_lines(daemons: list[dict], hint: str) -> str:
    """Who serves the spool, a line a daemon (`daemon: pid 4242 on box since ...
    (local, 2 processes)`), or `hint` when none does."""
    if not daemons:
        return hint
    return "\n".join(f"daemon: pid {d.get('pid')} on {d.get('host')} since {d.get('since')} "
                     f"({d.get('backend')}, {d.get('processes')} processes)" for d in daemons)


def status_table(jobs: list[dict], daemons: str = ""):
    """The status as a rich table, one row a job, with a progress bar beside the counts;
    the `daemons_lines` above it."""
    from rich.console import Group
    from rich.text import Text
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    table = Table(*_HEADER[:_BAR_AFTER], "", *_HEADER[_BAR_AFTER:], box=None)
    for job in jobs:
        cells = _row(job)
        total = job.get("total")
        bar = ProgressBar(total=total, completed=job["tested"], width=20, **BAR_STYLES) \
            if total else ""
        table.add_row(*cells[:_BAR_AFTER], bar, *cells[_BAR_AFTER:])
    head = [Text(daemons, style="bold red" if daemons.startswith("no daemon") else "dim")] \
        if daemons else []
    return Group(*head, table) if jobs else Group(*head, table, "(no jobs)")


def print_status(jobs: list[dict], daemons: str) -> None:
    """One row a job: id, state (`waiting` for a running job whose backend is away,
    `suspended` for one whose daemon is gone), task, priority, progress (with a bar on a
    terminal), numbers found (primes, kept, values), rate (numbers/s), ETA and elapsed
    time; `daemons` (from `daemons_lines`) above it on a terminal, else on stderr, so
    stdout stays a table."""
    if not sys.stdout.isatty():
        print(daemons, file=sys.stderr)
        print(status_lines(jobs))
        return
    from rich.console import Console

    Console().print(status_table(jobs, daemons))


def watch_status(snapshot: Callable[[], tuple[dict, str]], interval: float,
                 as_json: bool) -> None:
    """Show the status every `interval` seconds until Ctrl-C (its KeyboardInterrupt is
    the caller's). `snapshot` gives {"spool", "daemons", "jobs"} and the `daemons_lines`.
    On a terminal, one table redrawn in place; else the plain table (with `as_json`, one
    JSON object a line) each time, a blank line between, and the daemons on stderr
    whenever they change."""
    if sys.stdout.isatty() and not as_json:
        from rich.live import Live

        shown, daemons = snapshot()
        with Live(status_table(shown["jobs"], daemons), auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                shown, daemons = snapshot()
                live.update(status_table(shown["jobs"], daemons), refresh=True)
    else:
        said = None
        while True:
            shown, daemons = snapshot()
            if not as_json and daemons != said:
                said = daemons
                print(daemons, file=sys.stderr, flush=True)
            print(json.dumps(shown, default=str) if as_json
                  else status_lines(shown["jobs"]) + "\n", flush=True)
            time.sleep(interval)


def progress_line(job: dict) -> str:
    """One job's progress as a plain `key=value` line, e.g.
    `big running tested=2000/5000 primes=303 rate=1200 eta=2.5` (`kept=` for a filter
    task, `values=` for a map task)."""
    total = job.get("total")
    tested = f"{job['tested']}/{total}" if total else str(job["tested"])
    rate = "-" if job.get("rate") is None else f"{job['rate']:.0f}"
    eta = "-" if job.get("eta") is None else f"{job['eta']:g}"
    return (f"{job['id']} {job['state']} tested={tested} {_found_noun(job)}={job['found']} "
            f"rate={rate} eta={eta}")


class WaitProgress:
    """What `runner submit --wait` shows on stderr while it waits: a rich progress bar
    on a terminal, else a plain `progress_line` each time the progress changes."""

    def __init__(self, job_id: str):
        self._bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(**BAR_STYLES),
                                 MofNCompleteColumn(), TextColumn("{task.fields[found]}"),
                                 TimeRemainingColumn(), console=Console(stderr=True))
            self._task = self._bar.add_task(job_id, total=None, found="")
            self._bar.start()

    def say(self, text: str) -> None:
        """A line on stderr, above the bar while it shows."""
        if self._bar is None:
            print(text, file=sys.stderr, flush=True)
        else:
            self._bar.console.print(text, highlight=False, markup=False)

    def update(self, job: dict) -> None:
        if self._bar is None:
            print(progress_line(job), file=sys.stderr, flush=True)
        else:
            self._bar.update(self._task, total=job.get("total") or None,
                             completed=job["tested"],
                             found=f"{job['found']} {_found_noun(job)}",
                             description=f"{job['id']} {job['state']}")

    def __enter__(self) -> "WaitProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def task_lines(shown: dict) -> str:
    """`runner tasks` as tab-separated lines (from registry.catalogue): a task a line,
    name, kind, package and version, description and params (`cap: integer = 1000`);
    then a line for each broken plugin, with its error."""
    lines = []
    for task in shown["tasks"]:
        params = ", ".join(f"{name}: {spec.get('type', 'any')}"
                           + (f" = {spec['default']}" if "default" in spec else "")
                           for name, spec in task["params"].items()) or "-"
        lines.append(f"{task['name']}\t{task['kind']}\t{task['package']} {task['version']}\t"
                     f"{task['description']}\tparams: {params}")
    for broken in shown["broken"]:
        lines.append(f"{broken['name']}\tBROKEN\t{', '.join(broken['packages'])}\t{broken['error']}")
    return "\n".join(lines)


_EVENT_COLORS = {"done": "green", "failed": "red", "cancelled": "yellow", "worker_lost": "red",
                 "chunk_timed_out": "red", "chunk_retried": "yellow", "disk_error": "red",
                 "pool_recycled": "yellow"}
_EVENT_FIELDS = ("time", "job", "event", "pid")


def format_event(record: dict, color: bool = False) -> str:
    """One event as a line: time (UTC), job (or '-'), event, then its details as
    key=value (a value with spaces quoted as JSON), e.g.
    `2026-11-25 05:51:13.123  big  worker_lost  chunk=3 attempt=1 cause="..."`."""
    import typer

    when = str(record.get("time", "")).replace("T", " ").rstrip("Z")
    event = str(record.get("event", "?"))
    if color and event in _EVENT_COLORS:
        event = typer.style(event, fg=_EVENT_COLORS[event])
    details = " ".join(f"{key}={_show(value)}" for key, value in record.items()
                       if key not in _EVENT_FIELDS)
    return f"{when}  {record.get('job') or '-'}  {event}  {details}".rstrip()


def _show(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return json.dumps(text) if isinstance(value, str) and (" " in text or not text) else text
