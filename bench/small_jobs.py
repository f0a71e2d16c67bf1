"""Many small jobs: 1,000 small jobs dropped at once into a warm daemon, against the
book-style script run once per job (each run starting its own Python and Pool).

    python bench/small_jobs.py [--jobs 1000] [--rounds 3] [--script-runs 10]

Each round times, side by side: the runner whole, from the first drop until the last
result exists; then the script `--script-runs` times (running it 1,000 times would
take minutes): its median per run multiplied by the job count is what 1,000 runs
would take. Prints the medians over the rounds and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import drop_and_wait, running_daemon, spool_file_creation, time_script

NUMBERS = [17977, 10619863, 106198, 6620830889, 80630964769]
BOOK_SCRIPT = f"""
import gmpy2
from multiprocessing import Pool
if __name__ == "__main__":
    with Pool(2) as pool:
        primes = [n for n, p in zip({NUMBERS}, pool.imap(gmpy2.is_prime, {NUMBERS})) if p]
    print(primes)
"""


def drop_burst(root: Path, job: str, tag: str, count: int) -> float:
    """Seconds from the first of `count` drops (renames into jobs/) to the last result."""
    staging = root / "jobs"
    for k in range(count):
        (staging / f".{tag}-{k}.tmp").write_text(job)
    start = time.perf_counter()
    for k in range(count):
        os.rename(staging / f".{tag}-{k}.tmp", staging / f"{tag}-{k}.yaml")
    pending = {root / "outbox" / f"{tag}-{k}.yaml" for k in range(count)}
    while pending:
        pending = {path for path in pending if not path.exists()}
        time.sleep(0.005)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--script-runs", type=int, default=10)
    args = parser.parse_args()
    job = f"numbers: {NUMBERS}\n"
    ours, runs = [], []
    with tempfile.TemporaryDirectory() as tmp, running_daemon() as (root, _):
        script = Path(tmp) / "book.py"
        script.write_text(BOOK_SCRIPT)
        creation = spool_file_creation(root)
        drop_and_wait(root, "warm", job)
        for k in range(args.rounds):
            ours.append(drop_burst(root, job, f"small{k}", args.jobs))
            runs.extend(time_script(script) for _ in range(args.script_runs))
    burst, per_run = statistics.median(ours), statistics.median(runs)
    theirs = per_run * args.jobs
    print(f"{args.jobs} small jobs dropped at once into a warm daemon: {burst:.1f} s "
          f"({burst / args.jobs * 1000:.1f} ms a job; median of {args.rounds} rounds)")
    print(f"book-style script, once per job: {per_run * 1000:.0f} ms a run (median of "
          f"{len(runs)}, between the rounds), so {theirs:.0f} s for {args.jobs}")
    print(f"speed-up: {theirs / burst:.1f}x")
    print(creation)


if __name__ == "__main__":
    main()
