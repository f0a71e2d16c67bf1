"""Tasks: map tasks (a plugin's and the built-in factor) on a warm daemon, against the
book-style script calling the same function.

    python bench/tasks.py [--rounds 3] [--scale 1.0] [--case collatz] [--case factor]

Needs examples/collatz installed where `runner` runs (`pip install --no-build-isolation
-e examples/collatz`). Each round times, side by side, for each case: the script a reader
of the book would write (the parent reads and parses the file, then `Pool(2).imap(f,
nums, chunksize=C)`, writing `n<TAB>value` lines as the values come), and the runner on a
daemon that is already running, from `runner submit FILE --task T` until
outbox/<id>.yaml exists (its values, in outbox/<id>.jsonl, checked against the script's):

  collatz: 1,000,000 random integers below 10^12; the script maps examples/collatz's
    `collatz_steps` (chunksize 10000); the runner runs `--task collatz` (that function,
    a number at a time) and `--task collatz_fast` (its chunk function, numpy).
  factor: 20,000 random 64-bit and 2,000 random 100-bit numbers, shuffled; the script
    maps python-flint's `sorted(fmpz(n).factor())` (chunksize 1000); the runner runs the
    built-in `--task factor` (from 70 bits up, FLINT's ECM first, then that call:
    runner/tasks/builtin.py), and the floor calls the task's own function.

The floor, in the same run: the same function called in a loop on both cores, the least
the work costs: the file cut in two at a newline, each half's numbers read, parsed, given
to the function and written as the script writes them by one of two processes of a
`Pool(2)` started before the timing (as the daemon's are), the halves written to a file.

The runner's jobs name no chunksize: it picks one. `--scale 0.05` makes every count that
much smaller, for a quick check; `--case` runs only the cases named. Prints each median
and the ratios runner / script and runner / floor, of the time and of the CPU time (of the
script and its workers; of `runner submit` and the daemon with its workers; of the floor's
two processes): on a machine shared with other work the CPU time says more about the code,
the time more about the user's wait.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from multiprocessing import Pool, active_children

from common import (children_cpu_seconds, cpu_seconds, lines_between, running_daemon,
                    submit_and_wait, time_on_halves, time_script)

SCRIPT_HEAD = """
import sys
from multiprocessing import Pool, active_children
"""
SCRIPT_MAIN = """
if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        nums = [int(line) for line in f]
    with Pool(2) as pool, open(sys.argv[2], "w") as out:
        for n, value in zip(nums, pool.imap({function}, nums, chunksize={chunksize})):
            out.write(f"{{n}}\\t{{{shown}}}\\n")
"""
COLLATZ_SCRIPT = SCRIPT_HEAD + "from runner_example_tasks import collatz_steps\n" + \
    SCRIPT_MAIN.format(function="collatz_steps", chunksize=10000, shown="value")
FACTOR_SCRIPT = SCRIPT_HEAD + """from flint import fmpz


def factor(n):
    return sorted(fmpz(n).factor())
""" + SCRIPT_MAIN.format(function="factor", chunksize=1000,
                         shown="' '.join(f'{p}^{e}' for p, e in value)")


@dataclass(frozen=True)
class Case:
    """One comparison: the numbers, the book-style script, the runner's tasks that
    compute what it does, and the floor's work on a part of the file (`floor`: the lines
    the script writes for them); `shown` writes a runner's value as the script writes it."""

    name: str
    describe: str
    numbers: Callable[[random.Random, float], list[int]]
    script: str
    tasks: list[str]
    shown: Callable[[object], str]
    floor: Callable[[Path, int, int], bytes]


def collatz_lines(numbers: Path, start: int, stop: int) -> bytes:
    from runner_example_tasks import collatz_steps

    return b"".join(b"%d\t%d\n" % (n, collatz_steps(n))
                    for n in map(int, lines_between(numbers, start, stop)))


def factor_lines(numbers: Path, start: int, stop: int) -> bytes:
    from runner.tasks.builtin import factor

    return "".join(f"{n}\t{' '.join(f'{p}^{e}' for p, e in factor(n))}\n"
                   for n in map(int, lines_between(numbers, start, stop))).encode()


def collatz_numbers(rng: random.Random, scale: float) -> list[int]:
    return [rng.randrange(10**12) for _ in range(round(1_000_000 * scale))]


def factor_numbers(rng: random.Random, scale: float) -> list[int]:
    numbers = ([rng.getrandbits(64) | 1 << 63 for _ in range(round(20_000 * scale))]
               + [rng.getrandbits(100) | 1 << 99 for _ in range(round(2_000 * scale))])
    rng.shuffle(numbers)
    return numbers


CASES = [
    Case("collatz", "random integers below 10^12, Collatz steps", collatz_numbers,
         COLLATZ_SCRIPT, ["collatz", "collatz_fast"], str, collatz_lines),
    Case("factor", "random numbers, 64-bit and 100-bit (10:1), factorised by FLINT",
         factor_numbers, FACTOR_SCRIPT, ["factor"],
         lambda factors: " ".join(f"{p}^{e}" for p, e in factors), factor_lines),
]


def floor_cpu_seconds() -> float:
    """CPU seconds used so far by the floor's pool (this process's multiprocessing
    children: the daemon is a subprocess, not one of them)."""
    return sum(cpu_seconds(child.pid) for child in active_children())


def check_values(case: Case, jsonl: Path, script_output: Path) -> None:
    """The runner's values, written as the script writes them, are the script's."""
    with open(jsonl) as got, open(script_output) as expected:
        for ours, theirs in zip(got, expected, strict=True):
            n, value = json.loads(ours)
            assert f"{n}\t{case.shown(value)}\n" == theirs, (case.name, ours, theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies every count of numbers (0.05: a quick check)")
    parser.add_argument("--case", action="append", choices=[case.name for case in CASES],
                        help="run only this case (repeatable; default: all)")
    args = parser.parse_args()
    cases = [case for case in CASES if case.name in (args.case or [case.name])]
    times: dict[tuple[str, str], list[float]] = {}  # (case, "script" or task): seconds
    cpu: dict[tuple[str, str], list[float]] = {}  # the same: CPU seconds
    counts: dict[str, int] = {}
    # every job's values go to outbox/<id>.jsonl, however few (--scale 0.001)
    with tempfile.TemporaryDirectory() as tmp, Pool(2) as pool, \
            running_daemon("inline_max: 0\n") as (root, daemon):
        tmp = Path(tmp)
        for case in cases:
            numbers = case.numbers(random.Random(1), args.scale)
            counts[case.name] = len(numbers)
            (tmp / f"{case.name}.txt").write_text("".join(f"{n}\n" for n in numbers))
            (tmp / f"{case.name}.py").write_text(case.script)
            (tmp / "warm.txt").write_text("".join(f"{n}\n" for n in numbers[:4]))
            for task in case.tasks:  # each task is loaded in each of the daemon's workers,
                # as the script's workers have it (forked after it was imported): a chunk a
                # number, so that both workers get one
                submit_and_wait(root, tmp / "warm.txt", ["--task", task, "--chunksize", "1"])
            time_on_halves(pool, case.floor, tmp / "warm.txt", tmp / "warm.out")  # and the floor's
        for _ in range(args.rounds):
            for case in cases:
                numbers, output = tmp / f"{case.name}.txt", tmp / f"{case.name}.out"
                before = children_cpu_seconds()
                times.setdefault((case.name, "script"), []).append(
                    time_script(tmp / f"{case.name}.py", numbers, output))
                cpu.setdefault((case.name, "script"), []).append(children_cpu_seconds() - before)
                before = floor_cpu_seconds()
                times.setdefault((case.name, "floor"), []).append(
                    time_on_halves(pool, case.floor, numbers, tmp / "floor.out"))
                cpu.setdefault((case.name, "floor"), []).append(
                    floor_cpu_seconds() - before)
                assert (tmp / "floor.out").read_bytes() == output.read_bytes(), case.name
                for task in case.tasks:
                    before = children_cpu_seconds() + cpu_seconds(daemon.pid)
                    seconds, job_id = submit_and_wait(root, numbers, ["--task", task])
                    times.setdefault((case.name, task), []).append(seconds)
                    cpu.setdefault((case.name, task), []).append(
                        children_cpu_seconds() + cpu_seconds(daemon.pid) - before)
                    check_values(case, root / "outbox" / f"{job_id}.jsonl", output)
                    (root / "outbox" / f"{job_id}.jsonl").unlink()
    print(f"{args.rounds} rounds, medians (runner: `runner submit` to result on a warm daemon):")
    for case in cases:
        script, script_cpu = (statistics.median(x[case.name, "script"]) for x in (times, cpu))
        print(f"  {counts[case.name]:,} {case.describe}:")
        floor, floor_cpu = (statistics.median(x[case.name, "floor"]) for x in (times, cpu))
        print(f"    book-style script, Pool(2).imap: {script:.3f} s ({script_cpu:.2f} CPU s)")
        print(f"    floor, the function in a loop on 2 cores: {floor:.3f} s "
              f"({floor_cpu:.2f} CPU s)")
        for task in case.tasks:
            ours, ours_cpu = (statistics.median(x[case.name, task]) for x in (times, cpu))
            print(f"    runner --task {task}: {ours:.3f} s ({ours_cpu:.2f} CPU s), "
                  f"ratio runner / script: {ours / script:.2f} (CPU: {ours_cpu / script_cpu:.2f}), "
                  f"runner / floor: {ours / floor:.2f} (CPU: {ours_cpu / floor_cpu:.2f})")

if __name__ == "__main__":
    main()
