"""The Pool's worker-handler thread: the stock `multiprocessing.Pool` against the runner's.

    python bench/pool_handler.py [--chunks 100] [--rounds 5]

The stock Pool wakes its worker-handler thread whenever the result pipe is readable,
so the thread goes round (re-polling every worker) until the result thread has read
the result; the runner's pool (runner/pools.py) wakes it only when a worker exits or
the cache runs empty. Each round sends `--chunks` tasks of 10 ms of busy work, each
returning 19 KB (a chunk's primes as text), to a Pool(2) of each kind, and counts
the parent's CPU seconds and the handler's turns. Prints medians.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.pool
import resource
import statistics
import threading
import time

from runner.pools import _WorkerRecordingPool

_turns = [0]
_maintain_pool = multiprocessing.pool.Pool._maintain_pool


def _counted(*args, **kwargs):
    _turns[0] += 1
    return _maintain_pool(*args, **kwargs)


multiprocessing.pool.Pool._maintain_pool = staticmethod(_counted)


def busy_chunk(_: int) -> bytes:
    start = time.perf_counter()
    while time.perf_counter() - start < 0.01:
        pass
    return b"1000000000039\n" * 1400


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_round(pool_class, chunks: int) -> tuple[float, int]:
    """(parent CPU seconds, handler turns) for `chunks` tasks through a warm Pool(2)."""
    pool = pool_class(2, context=multiprocessing.get_context("forkserver"))
    try:
        pool.apply(busy_chunk, (0,))
        done = threading.Semaphore(0)
        turns, cpu = _turns[0], cpu_seconds()
        for k in range(chunks):
            pool.apply_async(busy_chunk, (k,), callback=lambda _: done.release())
        for _ in range(chunks):
            done.acquire()
        return cpu_seconds() - cpu, _turns[0] - turns
    finally:
        pool.close()
        pool.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = {"stock multiprocessing.Pool": [], "runner's pool": []}
    for _ in range(args.rounds):  # interleaved, so both see the same machine
        for name, pool_class in (("stock multiprocessing.Pool", multiprocessing.pool.Pool),
                                 ("runner's pool", _WorkerRecordingPool)):
            results[name].append(one_round(pool_class, args.chunks))
    print(f"{args.chunks} chunks of 10 ms through a Pool(2), {args.rounds} rounds, medians:")
    for name, rounds in results.items():
        cpu = statistics.median(c for c, _ in rounds)
        turns = statistics.median(t for _, t in rounds)
        print(f"  {name}: parent CPU {cpu:.3f} s, worker-handler turns {turns:.0f}")


if __name__ == "__main__":
    main()
