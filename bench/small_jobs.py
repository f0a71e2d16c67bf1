"""Many small jobs: 1,000 small jobs dropped at once into a warm daemon, against the
book-style script run once per job (each run starting its own Python and Pool), and
against the floor: the least a job costs on this disk with its result made durable.

    python bench/small_jobs.py [--jobs 1000] [--rounds 3] [--script-runs 10]

Each round times, side by side: the runner whole, from the first drop until the last
result exists, and the CPU its processes used meanwhile; the floor for as many jobs
(`protocol_floor`); then the script `--script-runs` times (running it 1,000 times would
take minutes): its median per run multiplied by the job count is what 1,000 runs would
take. Prints the medians over the rounds, the speed-up, the runner's time over the floor's,
and the CPU a job of the daemon's loop (its busiest thread, which does a job's steps one
after another), of its other threads and of its workers. The loop's CPU a job bounds the
speed-up from above, however little the loop waits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple

import gmpy2
import yaml
from common import (YAML_LOADER, cpu_seconds, drop_and_wait, running_daemon, spool_file_creation,
                    thread_cpu_seconds, time_script)

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


class CpuUse(NamedTuple):
    """CPU seconds that a stretch of time cost the runner's processes."""

    loop: float           # the daemon's busiest thread: its loop
    other_threads: float  # the daemon's other threads
    workers: float        # its workers (and any other process below it)


def cpu_during(pid: int, work: Callable[[], float]) -> tuple[float, CpuUse]:
    """What `work()` returns, and the CPU that the daemon `pid` and its workers used
    while it ran."""
    threads, whole = thread_cpu_seconds(pid), cpu_seconds(pid)
    result = work()
    used = {tid: seconds - threads.get(tid, 0.0)
            for tid, seconds in thread_cpu_seconds(pid).items()}
    daemon = sum(used.values())
    loop = max(used.values())
    return result, CpuUse(loop, daemon - loop, cpu_seconds(pid) - whole - daemon)


def protocol_floor(folder: Path, job: str, tag: str, count: int) -> float:
    """Seconds that `count` jobs of text `job` take at the least, one after another in this
    process, on the disk of `folder` (made if missing): each job's file, written beforehand,
    is claimed by one rename into a folder of its own, read as YAML and its numbers tested
    with `gmpy2.is_prime` here; its result is written durably (written, fsynced, renamed into
    a results folder, that folder fsynced); its folder moves to a done folder. No pool, no
    daemon: what any runner with a durable result per job pays, less what it adds."""
    places = {name: folder / name for name in ("dropped", "claimed", "results", "done")}
    for place in places.values():
        place.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        (places["dropped"] / f"{tag}-{k}.yaml").write_text(job)
    start = time.perf_counter()
    results = os.open(places["results"], os.O_RDONLY | os.O_DIRECTORY)
    try:
        for k in range(count):
            name = f"{tag}-{k}"
            claimed = places["claimed"] / name
            claimed.mkdir()
            os.rename(places["dropped"] / f"{name}.yaml", claimed / "job.yaml")
            numbers = yaml.load((claimed / "job.yaml").read_bytes(), Loader=YAML_LOADER)["numbers"]
            primes = [n for n in numbers if gmpy2.is_prime(n)]
            temp = claimed / "result.tmp"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, f"id: {name}\nstate: done\nprimes: {json.dumps(primes)}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, places["results"] / f"{name}.yaml")
            os.fsync(results)
            os.rename(claimed, places["done"] / name)
    finally:
        os.close(results)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--script-runs", type=int, default=10)
    args = parser.parse_args()
    job = f"numbers: {NUMBERS}\n"
    ours, floors, runs, cpu = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, running_daemon() as (root, daemon):
        script = Path(tmp) / "book.py"
        script.write_text(BOOK_SCRIPT)
        creation = spool_file_creation(root)
        drop_and_wait(root, "warm", job)
        for k in range(args.rounds):
            seconds, used = cpu_during(
                daemon.pid, lambda: drop_burst(root, job, f"small{k}", args.jobs))
            ours.append(seconds)
            cpu.append(used)
            floors.append(protocol_floor(root.parent / "floor", job, f"small{k}", args.jobs))
            runs.extend(time_script(script) for _ in range(args.script_runs))
    burst, per_run = statistics.median(ours), statistics.median(runs)
    floor = statistics.median(floors)
    theirs = per_run * args.jobs
    print(f"{args.jobs} small jobs dropped at once into a warm daemon: {burst:.1f} s "
          f"({burst / args.jobs * 1000:.1f} ms a job; median of {args.rounds} rounds)")
    print(f"book-style script, once per job: {per_run * 1000:.0f} ms a run (median of "
          f"{len(runs)}, between the rounds), so {theirs:.0f} s for {args.jobs}")
    print(f"speed-up: {theirs / burst:.1f}x")
    print(f"floor (each job claimed, read, tested and its result made durable, one after "
          f"another in one process, on the same disk): {floor:.2f} s ({floor / args.jobs * 1000:.2f} "
          f"ms a job); runner / floor: {burst / floor:.1f}")
    loop, others, workers = (statistics.median(each) / args.jobs * 1000 for each in zip(*cpu))
    print(f"CPU a job: the daemon's loop {loop:.2f} ms, its other threads {others:.2f}, its "
          f"workers {workers:.2f} (medians); the loop alone allows at most "
          f"{per_run * 1000 / loop:.0f}x")
    print(creation)


if __name__ == "__main__":
    main()
