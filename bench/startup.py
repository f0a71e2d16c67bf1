"""Start-up: `runner --help`, `runner submit` of a one-number file and `runner status`,
against a bare Python.

    env -u PYTHONDONTWRITEBYTECODE python bench/startup.py [--runs 21]

Runs each command `--runs` times in turn (hyperfine-style: one process per run, output
thrown away) and prints the medians and their ratio to the floor every command pays,
`python -c pass`. `runner submit` goes to a fresh spool made by `runner init` (its
config.yaml sets nothing) with no daemon, so only its own work is timed; `runner status`
lists the jobs it queued. Run it with bytecode written (a shell that sets
PYTHONDONTWRITEBYTECODE would time compiling every module, every run).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "spool"
        subprocess.run(["runner", "init", str(root)], check=True, capture_output=True)
        numbers = Path(tmp) / "one.txt"
        numbers.write_text("17977\n")
        commands = {"python -c pass": [sys.executable, "-c", "pass"],
                    "runner --help": ["runner", "--help"],
                    "runner submit": ["runner", "submit", str(numbers), "--root", str(root)],
                    "runner status": ["runner", "status", "--root", str(root)]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                began = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # status: "no daemon serves..."
                times[name].append(time.perf_counter() - began)
    floor = statistics.median(times["python -c pass"])
    print(f"start-up, median of {args.runs} runs each (ratio to python -c pass):")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"  {name:15} {median * 1000:6.0f} ms  {median / floor:4.1f}x")


if __name__ == "__main__":
    main()
