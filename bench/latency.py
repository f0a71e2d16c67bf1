"""Latency: the book's 17-number case study dropped into jobs/ of a warm daemon.

    python bench/latency.py [--drops 20]

Drops the sample job jobs/samples/book-case-study.yaml `--drops` times in a row,
each after the last one's result is in, and prints the median time from the
rename into jobs/ to outbox/<id>.yaml existing (written durably); then the same
with `chunksize: 1` (one number a task, as the book's imap). Beside it, what a
user would do without a daemon: run the book-style script for the same 17 numbers
(a new Python and a new Pool(2) each time). And the floor, the least this job costs,
timed after each drop in the same run: one `apply` on a warm `Pool(2)` (made before any
timing) of a function testing the 17 numbers with `gmpy2.is_prime`, then one durable write
of the job's result as the runner wrote it, by the runner's own `Spool.write_atomically`
(the file written in tmp/, fsynced, renamed into outbox/, outbox/ fsynced) in a second
spool beside the daemon's, on its filesystem, that no daemon serves. Prints the medians
and the ratios runner / floor (issue 18's second row).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import gmpy2

from common import case_study_job, drop_and_wait, running_daemon, spool_file_creation, time_script
from runner.spool import Spool

CASE_STUDY = [17977, 10619863, 106198, 6620830889, 80630964769, 228204732751, 1171432692373,
              1398341745571, 10963707205259, 15285151248481, 99999199999, 304250263527209,
              30425026352720, 10657331232548839, 10657331232548830, 44560482149,
              1746860020068409]
BOOK_SCRIPT = f"""
import gmpy2
from multiprocessing import Pool
if __name__ == "__main__":
    with Pool(2) as pool:
        primes = [n for n, p in zip({CASE_STUDY}, pool.imap(gmpy2.is_prime, {CASE_STUDY})) if p]
    print(primes)
"""


def primes_of(numbers: list[int]) -> list[int]:
    return [n for n in numbers if gmpy2.is_prime(n)]


def time_floor(pool: Pool, spool: Spool, name: str, result: bytes) -> tuple[float, float]:
    """Seconds for the warm `pool` to test the case study, and for its result to be
    written into `spool`'s outbox as the runner commits one (`Spool.write_atomically`)."""
    start = time.perf_counter()
    pool.apply(primes_of, (CASE_STUDY,))
    tested = time.perf_counter()
    spool.write_atomically(spool.outbox / name, result)
    return tested - start, time.perf_counter() - tested


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drops", type=int, default=20)
    args = parser.parse_args()
    sample = case_study_job()
    one_a_task = sample.replace("pool:\n", "pool:\n  chunksize: 1\n")
    with running_daemon() as (root, _), Pool(2) as pool:
        pool.map(primes_of, [CASE_STUDY, CASE_STUDY], chunksize=1)
        creation = spool_file_creation(root)
        drop_and_wait(root, "warm", sample)
        result = (root / "outbox" / "warm.yaml").read_bytes()
        beside = Spool.create(root.parent / "floor")  # no daemon: only its folders
        time.sleep(0.5)
        ours, floor = [], []
        for k in range(args.drops):
            ours.append(drop_and_wait(root, f"case-{k}", sample))
            floor.append(time_floor(pool, beside, f"case-{k}.yaml", result))
        singles = [drop_and_wait(root, f"single-{k}", one_a_task) for k in range(args.drops)]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "book.py"
        script.write_text(BOOK_SCRIPT)
        book = [time_script(script) for _ in range(5)]
    ours_ms, book_ms = statistics.median(ours) * 1000, statistics.median(book) * 1000
    print(f"case study dropped {args.drops} times into a warm daemon: median {ours_ms:.1f} ms "
          f"(min {min(ours) * 1000:.1f}, max {max(ours) * 1000:.1f})")
    print(f"  the same with chunksize 1 (17 tasks): median "
          f"{statistics.median(singles) * 1000:.1f} ms")
    print(f"book-style script per job (new Python, new Pool(2)): median {book_ms:.0f} ms")
    print(f"ratio runner / script: {ours_ms / book_ms:.3f}")
    apply_ms, write_ms, floor_ms = (statistics.median(times) * 1000 for times in (
        [a for a, _ in floor], [w for _, w in floor], [a + w for a, w in floor]))
    print(f"the floor, after each drop: median {floor_ms:.2f} ms (a warm Pool(2).apply of the 17 "
          f"numbers {apply_ms:.2f} ms, a durable write and rename of the {len(result)}-byte "
          f"result {write_ms:.2f} ms)")
    print(f"ratio runner / floor: {ours_ms / floor_ms:.1f}")
    print(creation)


if __name__ == "__main__":
    main()
