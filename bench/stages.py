"""Stages: where the case study's time goes in a warm daemon, step by step.

    python bench/stages.py [--drops 40]

Starts a daemon whose steps on a job's path (the claim, reading and checking the job
file, placing it, its spec, the dispatch, the result's text, progress and commit, the
archive, the events) are each wrapped in a timer, drops the book's case study `--drops`
times in a row, each after the last one's result is in (as bench/latency.py does), and
prints, for the drops that took the most common path, the median time between each
step's start or end and the next: the job's path laid out in order. The timers cost a
little, so the whole is somewhat slower than latency.py's. The steps are named by the
runner's functions: rename one and this prints it no more.
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import case_study_job, drop_and_wait

STEPS = {  # module: {class or None: [function, ...]}
    "runner.daemon": {"Daemon": ["_handle", "_claim_from_backlog", "_start"], None: ["load_claimed"]},
    "runner.spool": {"Spool": ["claim", "place_running", "write_atomically", "commit_result",
                               "_archive"]},
    "runner.run": {"JobRun": ["__init__", "advance", "_submit", "chunk_finished", "_finish",
                              "write_progress"], None: ["commit_result"]},
    "runner.pools": {"PoolManager": ["submit"]},
    "runner.events": {"Events": ["emit"]},
}
FIRST = "post _FileArrived"  # a job's path starts when the watcher tells of its file

# what the daemon runs: the steps wrapped, then the daemon itself; the stamps written at exit
DAEMON = """
import atexit, functools, importlib, json, sys, time
STEPS, OUT = json.loads(sys.argv[1]), sys.argv[2]
stamps = []

def timed(owner, name, label):
    inner = getattr(owner, name)
    @functools.wraps(inner)
    def step(*args, **kwargs):
        stamps.append((time.perf_counter(), "> " + label))
        try:
            return inner(*args, **kwargs)
        finally:
            stamps.append((time.perf_counter(), "< " + label))
    setattr(owner, name, step)

if __name__ == "__main__":
    for module_name, owners in STEPS.items():
        module = importlib.import_module(module_name)
        for owner_name, names in owners.items():
            owner = getattr(module, owner_name) if owner_name != "null" else module
            for name in names:
                timed(owner, name, f"{owner_name if owner_name != 'null' else module_name}.{name}")
    from runner.daemon import Daemon
    post = Daemon.post
    def told(self, message):
        stamps.append((time.perf_counter(), "post " + type(message).__name__))
        post(self, message)
    Daemon.post = told
    atexit.register(lambda: open(OUT, "w").write(json.dumps(stamps)))
    sys.argv[1:] = sys.argv[3:]
    from runner.daemon_process import main
    main()
"""


def run(drops: int, root: Path, out: Path) -> float:
    """Drop the case study `drops` times into a timed daemon on `root`; its median
    latency in ms. The daemon writes its stamps to `out` as it stops."""
    subprocess.run(["runner", "init", str(root)], check=True, capture_output=True)
    steps = {module: {owner or "null": names for owner, names in owners.items()}
             for module, owners in STEPS.items()}
    daemon = subprocess.Popen([sys.executable, "-c", DAEMON, json.dumps(steps), str(out),
                               "runner", "start", "--root", str(root)],
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        job = case_study_job()
        took = [drop_and_wait(root, f"drop-{k}", job) for k in range(drops)]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
    return statistics.median(took) * 1000


def layout(stamps: list) -> tuple[int, int, list[tuple[float, float, str]]]:
    """(drops, drops on the common path, [(ms since the file's arrival, ms since the
    last step, step)]) for the drops after the first five (the daemon warming up)."""
    # the loop may still be finishing one job (its archive, its events) when the next
    # one's file arrives: a step belongs to the job whose step called it, or, called from
    # the loop itself, to the job whose file arrived last
    paths: list[list] = []
    calls: list[int] = []  # for each step under way, the index of its job's path
    for moment, step in stamps:
        if step == FIRST:
            paths.append([])
        if not paths:
            continue
        if step.startswith("> "):
            calls.append(calls[-1] if calls else len(paths) - 1)
            job = calls[-1]
        elif step.startswith("< "):
            job = calls.pop()
        else:
            job = len(paths) - 1
        paths[job].append((moment, step))
    paths = paths[5:]
    common, count = collections.Counter(tuple(step for _, step in p) for p in paths).most_common(1)[0]
    chosen = [p for p in paths if tuple(step for _, step in p) == common]
    gaps = zip(*[[(b[0] - a[0]) * 1000 for a, b in zip(p, p[1:])] for p in chosen])
    rows, total = [], 0.0
    for step, gap in zip(common[1:], gaps):
        gap = statistics.median(gap)
        total += gap
        rows.append((total, gap, step))
    return len(paths), count, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drops", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        median = run(args.drops, Path(tmp) / "spool", Path(tmp) / "stamps.json")
        drops, common, rows = layout(json.loads((Path(tmp) / "stamps.json").read_text()))
    print(f"case study dropped {args.drops} times into a timed daemon: median {median:.2f} ms; "
          f"the {common} of {drops} drops after the first five that took the most common path:")
    print("  since arrival   step   (ms, medians)")
    for since, gap, step in rows:
        print(f"  {since:8.3f}  {gap:7.3f}  {step}")


if __name__ == "__main__":
    main()
