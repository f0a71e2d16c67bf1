"""Start-up: `runner --help`, `runner submit` of a one-number file and `runner status`,
against a bare Python.

    env -u PYTHONDONTWRITEBYTECODE python bench/startup.py [--runs 21] [--venv DIR ...]

Runs each command `--runs` times in turn (hyperfine-style: one process per run, output
thrown away) and prints the medians of the time each took and of the CPU time it used
(user + system: it moves less than the time on a loaded machine), and their ratio to the
floor every command pays, `python -c pass`. `runner submit` goes to a fresh spool made by
`runner init` (its config.yaml sets nothing) with no daemon, so only its own work is
timed; `runner status` lists the jobs it queued. With `--venv` (repeated), the runner and
Python of each virtual environment are timed in turn in the same runs, so that two
versions of the code are compared in one sitting; without, the `runner` on PATH and this
Python. Run it with bytecode written (a shell that sets PYTHONDONTWRITEBYTECODE would time
compiling every module, every run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str]) -> tuple[float, float]:
    """The seconds `command` took, and the CPU seconds it used."""
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # status: "no daemon serves..."
    _, status, usage = os.wait4(process.pid, 0)
    took = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return took, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--venv", action="append", type=Path, default=[],
                        help="a virtual environment with runner installed (repeat to compare)")
    args = parser.parse_args()
    installs = {str(venv): (str(venv / "bin" / "python"), str(venv / "bin" / "runner"))
                for venv in args.venv} or {"": (sys.executable, "runner")}
    with tempfile.TemporaryDirectory() as tmp:
        numbers = Path(tmp) / "one.txt"
        numbers.write_text("17977\n")
        commands: dict[tuple[str, str], list[str]] = {}
        for index, (install, (python, runner)) in enumerate(installs.items()):
            root = Path(tmp) / f"spool{index}"
            subprocess.run([runner, "init", str(root)], check=True, capture_output=True)
            commands.update({
                (install, "python -c pass"): [python, "-c", "pass"],
                (install, "runner --help"): [runner, "--help"],
                (install, "runner submit"): [runner, "submit", str(numbers), "--root", str(root)],
                (install, "runner status"): [runner, "status", "--root", str(root)]})
        times: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in commands}
        for _ in range(args.runs):
            for key, command in commands.items():
                times[key].append(timed(command))
    print(f"start-up, median of {args.runs} runs each (ratio to python -c pass):")
    for install in installs:
        if install:
            print(install)
        floor = statistics.median(took for took, _ in times[(install, "python -c pass")])
        for (of, name), runs in times.items():
            if of == install:
                took = statistics.median(took for took, _ in runs)
                cpu = statistics.median(cpu for _, cpu in runs)
                print(f"  {name:15} {took * 1000:6.0f} ms  {took / floor:4.1f}x   "
                      f"CPU {cpu * 1000:4.0f} ms")


if __name__ == "__main__":
    main()
