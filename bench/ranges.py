"""Ranges: a range job on a warm daemon, against primesieve listing and writing the same primes.

    python bench/ranges.py [--start 10**12] [--width 3*10**7] [--chunksize N] [--rounds 5]

Each round times, side by side: (a) the runner end to end, a range job dropped into
jobs/ of a daemon that is already running (2 processes; the job names no chunksize,
so the runner picks it, unless --chunksize is given: above 2**22 the spool's
limits.chunksize is raised to it) until outbox/<id>.yaml exists, which is after its
primes file is complete (checked against the reference, byte for byte); (b) the
reference: the `primesieve` command (Debian's package of that name, `apt-get install
primesieve`) printing the same primes into a file, one a line
(`primesieve START STOP-1 --print > file`). Prints medians and the ratio.

Without the `primesieve` command the reference is a plain numpy sieve listing the
primes and the runner's vectorised formatter writing them, and the output says so.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from common import drop_and_wait, running_daemon
from runner.tasks.sieve import format_lines

PRIMESIEVE = shutil.which("primesieve")


def plain_numpy_primes(start: int, stop: int) -> np.ndarray:
    """The primes of [start, stop) by one unsegmented numpy sieve (the fallback reference)."""
    limit = math.isqrt(stop - 1)
    small = np.ones(limit + 1, dtype=bool)
    small[:2] = False
    for p in range(2, math.isqrt(limit) + 1):
        if small[p]:
            small[p * p::p] = False
    flags = np.ones(stop - start, dtype=bool)
    flags[:max(0, 2 - start)] = False
    for p in np.flatnonzero(small).tolist():
        flags[max(p * p, -(-start // p) * p) - start::p] = False
    return np.flatnonzero(flags).astype(np.uint64) + np.uint64(start)


def integer(text: str) -> int:
    """An integer written plainly or as a product of powers: 1000, 3*10**7, 2**40."""
    value = 1
    for factor in text.replace("**", "^").split("*"):
        base, _, exponent = factor.partition("^")
        value *= int(base) ** int(exponent or 1)
    return value


def time_primesieve(start: int, stop: int, out: Path) -> float:
    """Seconds for the primesieve command to print the primes of [start, stop) to `out`."""
    began = time.perf_counter()
    with open(out, "wb") as handle:
        subprocess.run([PRIMESIEVE, str(start), str(stop - 1), "--print"], stdout=handle,
                       check=True)
    return time.perf_counter() - began


def time_numpy(start: int, stop: int, out: Path) -> float:
    """Seconds to list the primes of [start, stop) with a plain numpy sieve and write them
    with the runner's vectorised formatter."""
    began = time.perf_counter()
    out.write_bytes(format_lines(plain_numpy_primes(start, stop)))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", type=integer, default=10**12)
    parser.add_argument("--width", type=integer, default=3 * 10**7)
    parser.add_argument("--chunksize", type=integer, default=None,
                        help="the job's chunksize (default: none named, the runner picks)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    start, stop = args.start, args.start + args.width
    job = f"range: {{start: {start}, stop: {stop}}}\npool: {{processes: 2}}\n"
    config = "inline_max: 0\n"  # a primes file, however few the primes
    if args.chunksize is not None:
        job = job.replace("processes: 2", f"processes: 2, chunksize: {args.chunksize}")
        if args.chunksize > 1 << 22:  # limits.chunksize's default
            config += f"limits:\n  chunksize: {args.chunksize}\n"
    reference = "primesieve --print" if PRIMESIEVE else "plain numpy sieve + vectorised writer"
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp, running_daemon(config) as (root, _):
        out = Path(tmp) / "reference.primes"
        drop_and_wait(root, "warm", "range: {start: 0, stop: 100000}\npool: {processes: 2}\n")
        time.sleep(0.5)
        for k in range(args.rounds):
            theirs.append(time_primesieve(start, stop, out) if PRIMESIEVE
                          else time_numpy(start, stop, out))
            ours.append(drop_and_wait(root, f"range-{k}", job))
            result = yaml.safe_load((root / "outbox" / f"range-{k}.yaml").read_text())
            assert result["state"] == "done", result
            got = (root / "outbox" / f"range-{k}.primes").read_bytes()
            assert got == out.read_bytes(), "the runner's primes differ from the reference's"
        chunksize = result["settings"]["chunksize"]
        count = got.count(b"\n")
    r, t = statistics.median(ours), statistics.median(theirs)
    print(f"[{start}, {stop}): {count} primes; {args.rounds} rounds, medians:")
    print(f"  runner, range job on a warm daemon (2 processes, chunksize {chunksize}"
          f"{' as named' if args.chunksize else ', its default'}), drop -> result: {r:.3f} s")
    print(f"  {reference} into a file: {t:.3f} s")
    print(f"  ratio runner / {reference.split()[0]}: {r / t:.2f}")


if __name__ == "__main__":
    main()
