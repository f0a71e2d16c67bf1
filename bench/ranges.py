"""Ranges: a range job on a warm daemon, against primesieve listing and writing the same primes.

    python bench/ranges.py [--start 10**12] [--width 3*10**7] [--chunksize 10**6] [--rounds 5]

Each round times, side by side: (a) the runner end to end, a range job dropped into
jobs/ of a daemon that is already running (2 processes, the given chunksize; above
10**6 the spool's limits.chunksize is raised to it) until outbox/<id>.yaml exists,
which is after its primes file is complete (checked against the reference, byte for
byte); (b) the reference: primesieve (`primesieve.numpy.primes`) listing the same
primes, then writing them to a file, one a line, with the runner's vectorised
formatter (the fastest writer at hand; the time with "\\n".join(map(str, ...)) is
printed beside it). Prints medians and the ratio.

primesieve is a benchmark tool, not a dependency: it needs Debian's libprimesieve-dev
and `pip install primesieve`. Its 2.3.4 sdist ships Cython output that does not build
against numpy 2, so pip installs it without `primesieve.numpy`; regenerating
primesieve/numpy/_numpy.cpp from the project's _numpy.pyx with a current Cython
(NPY_ARRAY_OWNDATA for np.NPY_OWNDATA) restores it. Without `primesieve.numpy` the
reference is a plain numpy sieve, and the output says so.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from common import drop_and_wait, running_daemon
from runner.tasks.sieve import format_lines

try:
    import primesieve.numpy as primesieve_numpy
except ImportError:
    primesieve_numpy = None


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


def list_primes(start: int, stop: int) -> np.ndarray:
    if primesieve_numpy is not None:
        return primesieve_numpy.primes(start, stop - 1).astype(np.uint64)  # stop included
    return plain_numpy_primes(start, stop)


def time_reference(start: int, stop: int, out: Path, vectorised: bool) -> tuple[float, float]:
    """Seconds to list the primes of [start, stop), and to list and write them to `out`."""
    began = time.perf_counter()
    primes = list_primes(start, stop)
    listed = time.perf_counter()
    if vectorised:
        text = format_lines(primes)
    else:
        text = ("\n".join(map(str, primes.tolist())) + "\n").encode() if len(primes) else b""
    with open(out, "wb") as handle:
        handle.write(text)
    return listed - began, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", type=integer, default=10**12)
    parser.add_argument("--width", type=integer, default=3 * 10**7)
    parser.add_argument("--chunksize", type=integer, default=10**6)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    start, stop = args.start, args.start + args.width
    job = (f"range: {{start: {start}, stop: {stop}}}\n"
           f"pool: {{chunksize: {args.chunksize}, processes: 2}}\n")
    config = "inline_primes_max: 0\n"  # a primes file, however few the primes
    if args.chunksize > 10**6:
        config += f"limits:\n  chunksize: {args.chunksize}\n"
    reference = "primesieve" if primesieve_numpy is not None else "plain numpy sieve (no primesieve)"
    ours, listing, theirs, theirs_join = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, running_daemon(config) as (root, _):
        out = Path(tmp) / "reference.primes"
        drop_and_wait(root, "warm", "range: {start: 0, stop: 100000}\npool: {processes: 2}\n")
        time.sleep(0.5)
        for k in range(args.rounds):
            listed, written = time_reference(start, stop, out, vectorised=True)
            listing.append(listed)
            theirs.append(written)
            theirs_join.append(time_reference(start, stop, Path(tmp) / "join.primes", False)[1])
            ours.append(drop_and_wait(root, f"range-{k}", job))
            result = yaml.safe_load((root / "outbox" / f"range-{k}.yaml").read_text())
            assert result["state"] == "done", result
            got = (root / "outbox" / f"range-{k}.primes").read_bytes()
            assert got == out.read_bytes(), "the runner's primes differ from the reference's"
        count = got.count(b"\n")
    r, listed, t, j = (statistics.median(x) for x in (ours, listing, theirs, theirs_join))
    print(f"[{start}, {stop}): {count} primes; {args.rounds} rounds, medians:")
    print(f"  runner, range job on a warm daemon (2 processes, chunksize {args.chunksize}), "
          f"drop -> result: {r:.3f} s")
    print(f"  {reference}, list + write (vectorised formatter): {t:.3f} s "
          f"(listing alone {listed:.3f} s)")
    print(f"  {reference}, list + write (\"\\n\".join(map(str, ...))): {j:.3f} s")
    print(f"  ratio runner / {reference.split()[0]} (vectorised writer): {r / t:.2f}")


if __name__ == "__main__":
    main()
