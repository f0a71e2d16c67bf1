"""How the progress bars look on a terminal: a finished bar must not read like an empty
one, on a terminal of 16 colours as on one of true colours, and without colours."""

from __future__ import annotations

import pytest
from rich.color import ColorSystem
from rich.console import Console

from runner.view import progress_line, status_table

SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT,
           "truecolor": ColorSystem.TRUECOLOR}
JOBS = [{"id": "finished", "state": "done", "priority": 0, "tested": 100, "total": 100,
         "task": "primes", "found": 25, "rate": None, "eta": None, "elapsed": 1.0},
        {"id": "half", "state": "running", "priority": 0, "tested": 50, "total": 100,
         "task": "primes", "found": 10, "rate": 10.0, "eta": 5.0, "elapsed": 1.0}]


def bar_cells(system: str | None) -> dict[str, list[tuple[str, object]]]:
    """Each job's bar as (character, colour as the terminal gets it) pairs."""
    console = Console(force_terminal=True, color_system=system, width=120)
    lines = console.render_lines(status_table(JOBS), pad=False)
    cells = {}
    for line in lines:
        text = "".join(segment.text for segment in line)
        job = next((job["id"] for job in JOBS if text.lstrip().startswith(job["id"])), None)
        if job is None:
            continue
        cells[job] = [(char, segment.style.color.downgrade(SYSTEMS[system]).number
                       if system and segment.style and segment.style.color else None)
                      for segment in line if segment.text.strip("━╸╺ ") == ""
                      and segment.text.strip() for char in segment.text]
    return cells


@pytest.mark.parametrize("system", ["standard", "256", "truecolor"])
def test_a_finished_bar_is_full_and_unlike_the_empty_part(system):
    cells = bar_cells(system)
    finished = {colour for _, colour in cells["finished"]}
    assert len(cells["finished"]) == 20 and len(finished) == 1, cells["finished"]
    half = cells["half"]
    done_part, empty_part = half[0][1], half[-1][1]
    assert done_part != empty_part, half
    assert finished != {empty_part}, (system, finished, empty_part)  # done is not grey like empty


def test_without_colours_the_empty_part_is_blank():
    console = Console(force_terminal=True, color_system=None, width=120, record=True)
    console.print(status_table(JOBS))
    rows = {line.split()[0]: line for line in console.export_text().splitlines()
            if line.strip() and line.split()[0] in ("finished", "half")}
    assert rows["finished"].count("━") == 20
    assert rows["half"].count("━") == 10 and "╺" not in rows["half"]


@pytest.mark.parametrize("output, noun", [("primes", "primes"), ("filter", "kept"),
                                          ("map", "values"), (None, "found")])
def test_a_progress_line_names_what_the_task_finds_once_it_is_known(output, noun):
    """Before a daemon starts a job, its task's output is not known: a queued `factor`
    job has found nothing, not 0 primes."""
    job = {"id": "j", "state": "queued", "tested": 0, "found": 0, "output": output}
    assert progress_line(job) == f"j queued tested=0 {noun}=0 rate=- eta=-"
