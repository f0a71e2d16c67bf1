"""Flood: 10,000 small job files dropped into jobs/ at once, on a daemon with the default config.

    python bench/flood.py [--files 10000] [--status-every 1.0]

Every job file is written under a hidden name first, then all are renamed into jobs/
as fast as the loop goes (a burst of 10,000 arrivals). Prints the time until every
result is in outbox/, the daemon's RSS (before, after the first 100 results, peak,
at the end), the latency of `runner status --json` while the flood is worked
through (median of the calls made, and the worst), and checks that every file got
exactly one result with exact primes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

import yaml

from common import YAML_LOADER, descendants, primes_below, rss_mib, running_daemon



def count_results(outbox: Path) -> int:
    return sum(1 for name in os.listdir(outbox) if name.endswith(".yaml"))


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def timed_status(root: Path) -> tuple[float, int, int]:
    """(seconds `runner status --json` took, jobs it listed, ids it listed more than once)."""
    t0 = time.perf_counter()
    out = subprocess.run(["runner", "status", "--json", "--root", str(root)],
                         capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        return took, -1, 0
    ids = [job["id"] for job in yaml.load(out.stdout, Loader=YAML_LOADER)["jobs"]]
    return took, len(ids), len(ids) - len(set(ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--status-every", type=float, default=1.0,
                        help="seconds between `runner status` calls during the flood")
    parser.add_argument("--stall", type=float, default=120.0,
                        help="give up when no result arrives for this many seconds")
    args = parser.parse_args()
    jobs = {f"flood-{k:05d}": [1000 + 7 * k + d for d in range(5)] for k in range(args.files)}
    primes = primes_below(1000 + 7 * args.files + 10)

    with running_daemon() as (root, daemon):
        jobs_dir, outbox = root / "jobs", root / "outbox"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and daemon.poll() is None:
            if subprocess.run(["runner", "status", "--json", "--root", str(root)],
                              capture_output=True).returncode == 0:
                break
        time.sleep(1.0)  # let the daemon settle into its loop
        rss_before, fds_before = rss_mib(daemon.pid), open_fds(daemon.pid)
        for job_id, numbers in jobs.items():
            (jobs_dir / f".{job_id}.tmp").write_text(f"numbers: {numbers}\n")

        samples: list[tuple[float, int, float, float]] = []  # (t, results, daemon MiB, workers MiB)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                workers = sum(rss_mib(pid) for pid in descendants(daemon.pid))
                samples.append((time.monotonic() - start, count_results(outbox),
                                rss_mib(daemon.pid), workers))
                time.sleep(0.1)

        start = time.monotonic()
        for job_id in jobs:
            os.rename(jobs_dir / f".{job_id}.tmp", jobs_dir / f"{job_id}.yaml")
        drop_seconds = time.monotonic() - start
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        statuses: list[tuple[float, int, int, int]] = []  # (seconds, results before, listed, twice)
        last_count, last_change = 0, time.monotonic()
        stalled = False
        next_status = time.monotonic()
        while True:
            done = count_results(outbox)
            if done >= args.files or daemon.poll() is not None:
                break
            if done != last_count:
                last_count, last_change = done, time.monotonic()
            elif time.monotonic() - last_change > args.stall:
                stalled = True
                break
            if time.monotonic() >= next_status:
                took, listed, twice = timed_status(root)
                statuses.append((took, done, listed, twice))
                next_status = time.monotonic() + args.status_every
            time.sleep(0.05)
        process_seconds = time.monotonic() - start
        time.sleep(1.0)
        stop.set()
        sampler.join(5)
        alive = daemon.poll() is None
        rss_end, fds_end = rss_mib(daemon.pid), open_fds(daemon.pid)
        after = [timed_status(root) for _ in range(3)]

        missing, doubled, wrong = 0, 0, 0
        results = {}
        for name in os.listdir(outbox):
            if name.endswith(".yaml"):
                result = yaml.load((outbox / name).read_bytes(), Loader=YAML_LOADER)
                results.setdefault(result.get("source"), []).append(result)
        for job_id, numbers in jobs.items():
            got = results.get(f"jobs/{job_id}.yaml", [])
            if not got:
                missing += 1
                continue
            doubled += len(got) > 1
            result = got[0]
            if result.get("state") != "done" or result.get("id") != job_id or \
                    result.get("primes") != [n for n in numbers if n in primes]:
                wrong += 1
        left_queued = sum(1 for name in os.listdir(jobs_dir) if not name.startswith("."))

    rss_100 = next((s[2] for s in samples if s[1] >= 100 and s[2]), float("nan"))
    peak = max((s[2] for s in samples), default=0.0)
    worker_peak = max((s[3] for s in samples), default=0.0)
    print(f"files dropped: {args.files} (renamed into jobs/ in {drop_seconds:.2f} s)")
    print(f"time to process all: {process_seconds:.1f} s "
          f"({args.files / process_seconds:.0f} jobs/s){'  STALLED' if stalled else ''}")
    print(f"results: {args.files - missing} of {args.files}; missing {missing}, duplicated "
          f"{doubled}, wrong {wrong}; still queued in jobs/: {left_queued}; daemon alive: {alive}")
    print(f"daemon RSS MiB: before {rss_before:.1f}, after 100 results {rss_100:.1f}, "
          f"peak {peak:.1f}, at the end {rss_end:.1f}; workers' total peak {worker_peak:.1f}")
    print(f"daemon open files: before {fds_before}, at the end {fds_end}")
    if statuses:
        during = [row[0] for row in statuses]
        print(f"`runner status --json` during the flood: median {statistics.median(during):.2f} s, "
              f"max {max(during):.2f} s over {len(during)} calls "
              f"(results done at each call: {[row[1] for row in statuses][:12]}"
              f"{' ...' if len(statuses) > 12 else ''})")
        print(f"  jobs listed per call: {[row[2] for row in statuses][:12]}; ids listed twice per "
              f"call: {[row[3] for row in statuses][:12]}")
    else:
        print("`runner status --json`: no call made during the flood (it ended first)")
    print(f"`runner status --json` after the flood ({args.files} finished jobs): median "
          f"{statistics.median(a[0] for a in after):.2f} s, listing {after[0][1]} jobs")


if __name__ == "__main__":
    main()
