"""How `runner status` and `runner logs` look: a rich table on a terminal, plain
columns otherwise; events one readable line each."""

from __future__ import annotations

import json
import sys


def _progress(job: dict) -> str:
    total = job.get("total")
    if not total:
        return "-" if job["state"] == "queued" else f"{job['tested']}"
    return f"{job['tested']}/{total} ({100 * job['tested'] / total:.0f}%)"


def _elapsed(job: dict) -> str:
    return "-" if job.get("elapsed") is None else f"{job['elapsed']:.1f}s"


def print_status(jobs: list[dict]) -> None:
    """One row a job: id, state (`waiting` for a running job whose backend is away), progress,
    primes found, elapsed time."""
    header = ("ID", "STATE", "PROGRESS", "PRIMES", "ELAPSED")
    rows = [(j["id"], "waiting" if j.get("waiting") else j["state"], _progress(j), str(j["primes"]),
             _elapsed(j)) for j in jobs]
    if not sys.stdout.isatty():
        for row in (header, *rows):
            print("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header, box=None)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


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
