"""Start-up: `runner --help` and `runner submit` of a one-number file, against a bare Python.

    python bench/startup.py [--runs 21]

Runs each command `--runs` times in turn (hyperfine-style: one process per run, output
thrown away) and prints the medians; `python -c pass` is the floor every command pays.
`runner submit` goes to a fresh spool with no daemon, so only its own work is timed.
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
                    "runner submit": ["runner", "submit", str(numbers), "--root", str(root)]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                began = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - began)
    print(f"start-up, median of {args.runs} runs each:")
    for name, runs in times.items():
        print(f"  {name:15} {statistics.median(runs) * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
