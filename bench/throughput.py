"""Throughput: `runner submit` to result file on a warm daemon, against the book-style script
and against the floor.

    python bench/throughput.py [--numbers 2000000] [--rounds 5]

Makes a file of random odd 64-bit integers (one a line), then in each round times,
side by side: the script a reader of the book would write (the parent reads and
parses the file, then `Pool(2).imap(gmpy2.is_prime, nums, chunksize=20000)`), and
the runner on a daemon that is already running, from `runner submit` until
outbox/<id>.yaml exists: with the script's chunksize and in completion order
(`--chunksize 20000 --unordered`), and with no options (input order, the chunksize
the runner picks); and the floor, the least this work costs: the same file read, its
numbers parsed, tested with `gmpy2.is_prime` and the primes formatted as lines into a
file, in-process on both cores. The floor's two processes (a `Pool(2)`) are started
before its timing, as the daemon's are: a round times the cut of the file at the first line
break past its middle, each process reading, parsing, testing and formatting its half, and
the parent writing the two halves to the output file. The runner's time includes
`runner submit` starting Python; the floor's starts none. Prints each median, the ratios
to the book-style script and the ratios to the floor (issue 18's first row).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
from multiprocessing import Pool
from pathlib import Path

import gmpy2

from common import lines_between, submit_and_wait, time_on_halves, time_script

BOOK_SCRIPT = """
import sys, gmpy2
from multiprocessing import Pool
if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        nums = [int(line) for line in f]
    with Pool(2) as pool:
        primes = [n for n, p in zip(nums, pool.imap(gmpy2.is_prime, nums, chunksize=20000)) if p]
    with open(sys.argv[2], "w") as out:
        out.write("".join(f"{p}\\n" for p in primes))
"""


def make_numbers(path: Path, count: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w") as out:
        for _ in range(count // 100_000 + 1):
            block = min(100_000, count)
            count -= block
            out.write("".join(f"{rng.getrandbits(64) | 1}\n" for _ in range(block)))
            if count == 0:
                break


AS_THE_SCRIPT = ["--chunksize", "20000", "--unordered"]


def primes_between(numbers: Path, start: int, stop: int) -> bytes:
    """The primes among the whole lines of `numbers` in bytes [start, stop), a line each."""
    return b"".join(b"%d\n" % n for n in map(int, lines_between(numbers, start, stop))
                    if gmpy2.is_prime(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--numbers", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        numbers = tmp / "numbers.txt"
        make_numbers(numbers, args.numbers)
        script = tmp / "book.py"
        script.write_text(BOOK_SCRIPT)
        root = tmp / "spool"
        subprocess.run(["runner", "init", str(root)], check=True, capture_output=True)
        daemon = subprocess.Popen(["runner", "start", "--root", str(root)],
                                  stderr=subprocess.DEVNULL)
        pool = Pool(2)
        try:
            pool.map(gmpy2.is_prime, [3, 5], chunksize=1)  # the floor's processes started
            warm = tmp / "warm.txt"
            warm.write_text("17977\n")
            submit_and_wait(root, warm, [])  # the daemon's pool is now warm
            book, ours, plain, floor = [], [], [], []
            for _ in range(args.rounds):
                book.append(time_script(script, numbers, tmp / "book.primes"))
                expected = (tmp / "book.primes").read_text().split()
                floor.append(time_on_halves(pool, primes_between, numbers, tmp / "floor.primes"))
                assert (tmp / "floor.primes").read_text().split() == expected
                for options, times in ((AS_THE_SCRIPT, ours), ([], plain)):
                    seconds, job_id = submit_and_wait(root, numbers, options)
                    times.append(seconds)
                    got = (root / "outbox" / f"{job_id}.primes").read_text().split()
                    in_order = not options  # --unordered: primes in completion order
                    assert (got == expected) if in_order else (sorted(got) == sorted(expected))
        finally:
            pool.terminate()
            daemon.terminate()
            daemon.wait(30)
    b, r, p, f = (statistics.median(x) for x in (book, ours, plain, floor))
    print(f"{args.numbers} random odd 64-bit numbers, {args.rounds} rounds, medians:")
    print(f"  book-style script (Pool(2).imap, chunksize=20000): {b:.3f} s")
    print(f"  the floor (read, parse, gmpy2.is_prime, format; one half of the file on each of "
          f"2 started processes): {f:.3f} s ({args.numbers / f / 1e6:.2f} M numbers/s)")
    print(f"  runner submit -> result on a warm daemon, {' '.join(AS_THE_SCRIPT)}: {r:.3f} s "
          f"({args.numbers / r / 1e6:.2f} M numbers/s), ratio runner / book: {r / b:.2f}, "
          f"runner / floor: {r / f:.2f}")
    print(f"  the same with no options (input order, chunksize picked):  {p:.3f} s "
          f"({args.numbers / p / 1e6:.2f} M numbers/s), ratio runner / book: {p / b:.2f}, "
          f"runner / floor: {p / f:.2f}")


if __name__ == "__main__":
    main()
