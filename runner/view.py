"""How `runner status` looks: a rich table on a terminal, plain columns otherwise."""

from __future__ import annotations

import sys


def _progress(job: dict) -> str:
    total = job.get("total")
    if not total:
        return "-" if job["state"] == "queued" else f"{job['tested']}"
    return f"{job['tested']}/{total} ({100 * job['tested'] / total:.0f}%)"


def _elapsed(job: dict) -> str:
    return "-" if job.get("elapsed") is None else f"{job['elapsed']:.1f}s"


def print_status(jobs: list[dict]) -> None:
    """One row a job: id, state, progress, primes found, elapsed time."""
    header = ("ID", "STATE", "PROGRESS", "PRIMES", "ELAPSED")
    rows = [(j["id"], j["state"], _progress(j), str(j["primes"]), _elapsed(j)) for j in jobs]
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
