"""The same job on both backends: local pools against a Dask cluster on this machine.

    python bench/dask_vs_local.py [--numbers 2000000] [--rounds 5]

Makes a file of random odd 64-bit integers (one a line), starts a Dask LocalCluster
(two single-threaded worker processes, as many as the local pools' processes) and two
warm daemons, one spool `backend: local` and one `backend: dask`. Each round drops the
same job (the numbers file, chunksize 20000: 100 chunks, unordered) into each spool and
times it until its result exists. Prints each median, the ratio, and the cluster's
start-up time and idle memory; checks that both found the same primes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from common import YAML_LOADER, drop_and_wait, process_cpu_seconds, rss_mib, running_daemon
from distributed import LocalCluster
from throughput import make_numbers

WORKERS = 2
# More chunks in flight than locally: a Dask task's round trip (submit, schedule, fetch
# the result) is longer than a local pool's, and workers should not wait for the next.
DASK_CHUNKS_AHEAD = 4
JOB = """id: {id}
numbers_file: big.numbers
pool: {{processes: 2, chunksize: 20000, ordered: false}}
"""


def primes_found(root: Path, job_id: str) -> int:
    result = yaml.load((root / "outbox" / f"{job_id}.yaml").read_text(), Loader=YAML_LOADER)
    assert result["state"] == "done", result
    return result["primes_found"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        numbers = Path(tmp) / "big.numbers"
        make_numbers(numbers, args.numbers)
        started = time.perf_counter()
        with LocalCluster(n_workers=WORKERS, threads_per_worker=1, dashboard_address=None) as cluster:
            startup = time.perf_counter() - started
            worker_pids = [int(w.process.pid) for w in cluster.workers.values()]
            dask_config = (f"max_processes: {WORKERS}\nchunks_ahead_per_process: {DASK_CHUNKS_AHEAD}\n"
                           f"backend: dask\ndask: {{scheduler: {cluster.scheduler_address}}}\n")
            with running_daemon(f"max_processes: {WORKERS}\n") as (local_root, local), \
                    running_daemon(dask_config) as (dask_root, dask_daemon):
                for root in (local_root, dask_root):
                    shutil.copy(numbers, root / "big.numbers")
                idle = sum(rss_mib(pid) for pid in worker_pids)
                times: dict[str, list[float]] = {"local": [], "dask": []}
                found: dict[str, set[int]] = {"local": set(), "dask": set()}
                daemons = {"local": local.pid, "dask": dask_daemon.pid}
                daemon_cpu = {"local": 0.0, "dask": 0.0}
                scheduler_cpu = 0.0
                for round_ in range(args.rounds + 1):  # round 0 warms pools and workers up
                    for name, root in (("local", local_root), ("dask", dask_root)):
                        job_id = f"r{round_}"
                        cpu_before = process_cpu_seconds(daemons[name]), time.process_time()
                        seconds = drop_and_wait(root, job_id, JOB.format(id=job_id))
                        found[name].add(primes_found(root, job_id))
                        if round_:
                            times[name].append(seconds)
                            daemon_cpu[name] += process_cpu_seconds(daemons[name]) - cpu_before[0]
                            if name == "dask":
                                scheduler_cpu += time.process_time() - cpu_before[1]
        assert found["local"] == found["dask"] and len(found["local"]) == 1, found
    local_s, dask_s = statistics.median(times["local"]), statistics.median(times["dask"])
    print(f"{args.numbers} numbers, 100 chunks, {args.rounds} rounds, {found['local'].pop()} primes "
          "(both backends agree)")
    print(f"local pools (2 processes): median {local_s:.2f} s  {times['local']}")
    print(f"dask LocalCluster (2 workers x 1 thread): median {dask_s:.2f} s  {times['dask']}")
    print(f"dask / local: {dask_s / local_s:.2f}")
    print(f"CPU seconds a job: local daemon {daemon_cpu['local'] / args.rounds:.2f}; dask daemon "
          f"{daemon_cpu['dask'] / args.rounds:.2f}, this process (the scheduler, and polling for the "
          f"result) {scheduler_cpu / args.rounds:.2f} "
          "(on the same 2 cores as the workers)")
    print(f"LocalCluster start-up {startup:.1f} s; its workers' RSS when idle {idle:.0f} MiB")


if __name__ == "__main__":
    main()
