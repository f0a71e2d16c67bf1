"""Memory: peak RSS of the daemon and of each worker, for jobs of 17, 1M and 10M numbers.

    python bench/memory.py [--sizes 17,1000000,10000000]

Each job is a numbers file of random odd 64-bit integers submitted with
`runner submit FILE --chunksize 20000` to a warm daemon; RSS is sampled every 10 ms
from /proc until the result exists. The daemon must stay flat whatever the size:
it never holds the numbers, only byte ranges of the file, and streams primes out.

RSS is the headline: what `ps` and `top` show, and what a memory limit on a process
counts. It counts in full the pages of shared libraries and the pages a worker shares
with the process it was forked from, so beside it are PSS and USS (common.py), read
once the result exists (too slow to read every 10 ms without slowing the job).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import descendants, rss_mib, running_daemon, shared_and_own_mib


def make_numbers(path: Path, count: int) -> None:
    rng = random.Random(count)
    with open(path, "w") as out:
        while count:
            block = min(count, 100_000)
            out.write("".join(f"{rng.getrandbits(64) | 1}\n" for _ in range(block)))
            count -= block


def peak_rss_while(daemon_pid: int, done: threading.Event) -> tuple[float, float]:
    """(peak daemon RSS, peak RSS of any one worker) in MiB, sampled until `done`."""
    daemon_peak = worker_peak = 0.0
    while not done.is_set():
        daemon_peak = max(daemon_peak, rss_mib(daemon_pid))
        for pid in descendants(daemon_pid):
            worker_peak = max(worker_peak, rss_mib(pid))
        time.sleep(0.01)
    return daemon_peak, worker_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="17,1000000,10000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp, running_daemon() as (root, daemon):
        files = {}
        for size in sizes:
            files[size] = Path(tmp) / f"n{size}.txt"
            make_numbers(files[size], size)
        print(f"{'numbers':>10}  {'daemon peak MiB':>15}  {'worker peak MiB':>15}  {'seconds':>8}"
              f"  {'then daemon PSS/USS':>19}  {'worker PSS/USS':>14}")
        for size in sizes:
            done = threading.Event()
            peaks: list = []
            sampler = threading.Thread(
                target=lambda peaks=peaks, done=done: peaks.extend(peak_rss_while(daemon.pid, done)))
            sampler.start()
            start = time.perf_counter()
            job_id = subprocess.run(["runner", "submit", str(files[size]), "--root", str(root),
                                     "--chunksize", "20000"],
                                    check=True, capture_output=True, text=True).stdout.strip()
            while not (root / "outbox" / f"{job_id}.yaml").exists():
                time.sleep(0.005)
            seconds = time.perf_counter() - start
            done.set()
            sampler.join()
            daemon_pss, daemon_uss = shared_and_own_mib(daemon.pid)
            workers = [shared_and_own_mib(pid) for pid in descendants(daemon.pid)]
            worker_pss, worker_uss = max(workers, default=(0.0, 0.0))
            print(f"{size:>10}  {peaks[0]:>15.1f}  {peaks[1]:>15.1f}  {seconds:>8.2f}"
                  f"  {daemon_pss:>10.1f}/{daemon_uss:<8.1f}  {worker_pss:>7.1f}/{worker_uss:<6.1f}")


if __name__ == "__main__":
    main()
