"""Many small jobs: 1,000 small jobs dropped at once into a warm daemon, against the
book-style script run once per job (each run starting its own Python and Pool).

    python bench/small_jobs.py [--jobs 1000] [--script-runs 50]

The runner's time is measured whole: from the first drop until the last result exists.
Running the script 1,000 times would take minutes, so it is run `--script-runs` times
in the same run of this benchmark and its median per run is multiplied by the job count.
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

from common import drop_and_wait, running_daemon

NUMBERS = [17977, 10619863, 106198, 6620830889, 80630964769]
BOOK_SCRIPT = f"""
import gmpy2
from multiprocessing import Pool
if __name__ == "__main__":
    with Pool(2) as pool:
        primes = [n for n, p in zip({NUMBERS}, pool.imap(gmpy2.is_prime, {NUMBERS})) if p]
    print(primes)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--script-runs", type=int, default=50)
    args = parser.parse_args()
    job = f"numbers: {NUMBERS}\n"
    with running_daemon() as (root, _):
        drop_and_wait(root, "warm", job)
        staging = root / "jobs"
        for k in range(args.jobs):
            (staging / f".small-{k}.tmp").write_text(job)
        start = time.perf_counter()
        for k in range(args.jobs):
            os.rename(staging / f".small-{k}.tmp", staging / f"small-{k}.yaml")
        pending = {root / "outbox" / f"small-{k}.yaml" for k in range(args.jobs)}
        while pending:
            pending = {path for path in pending if not path.exists()}
            time.sleep(0.005)
        ours = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "book.py"
        script.write_text(BOOK_SCRIPT)
        runs = []
        for _ in range(args.script_runs):
            begin = time.perf_counter()
            subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
            runs.append(time.perf_counter() - begin)
    per_run = statistics.median(runs)
    theirs = per_run * args.jobs
    print(f"{args.jobs} small jobs dropped at once into a warm daemon: {ours:.1f} s "
          f"({ours / args.jobs * 1000:.1f} ms a job)")
    print(f"book-style script, once per job: {per_run * 1000:.0f} ms a run (median of "
          f"{args.script_runs}), so {theirs:.0f} s for {args.jobs}")
    print(f"speed-up: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
