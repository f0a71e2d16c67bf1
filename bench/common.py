"""Helpers shared by the benchmarks: a spool with a running daemon, and timing a job."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import yaml

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@contextlib.contextmanager
def running_daemon(extra_config: str = "") -> Iterator[tuple[Path, subprocess.Popen]]:
    """A fresh spool in a temporary folder with `runner start` running on it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "spool"
        subprocess.run(["runner", "init", str(root)], check=True, capture_output=True)
        if extra_config:
            with open(root / "config.yaml", "a") as config:
                config.write(extra_config)
        daemon = subprocess.Popen(["runner", "start", "--root", str(root)],
                                  stderr=subprocess.DEVNULL)
        try:
            yield root, daemon
        finally:
            daemon.terminate()
            daemon.wait(30)


def case_study_job() -> str:
    """The sample job jobs/samples/book-case-study.yaml (the book's 17 numbers) without
    its `id:` line, so that each drop takes its id from its file's name."""
    sample = (Path(__file__).resolve().parent.parent / "jobs" / "samples"
              / "book-case-study.yaml").read_text()
    return "\n".join(line for line in sample.splitlines() if not line.startswith("id:"))


def drop_and_wait(root: Path, job_id: str, text: str) -> float:
    """Drop a job file the safe way (written beside jobs/, then renamed in) and return
    the seconds from the rename until its result exists."""
    hidden = root / f".{job_id}.tmp"
    hidden.write_text(text)
    result = root / "outbox" / f"{job_id}.yaml"
    start = time.perf_counter()
    os.rename(hidden, root / "jobs" / f"{job_id}.yaml")
    while not result.exists():
        time.sleep(0.0002)
    return time.perf_counter() - start


def submit_and_wait(root: Path, numbers: Path, options: list[str]) -> tuple[float, str]:
    """`runner submit numbers --root root *options`, and the seconds from its start until
    the job's result exists (so its output file is complete), with the job's id."""
    start = time.perf_counter()
    job_id = subprocess.run(["runner", "submit", str(numbers), "--root", str(root), *options],
                            check=True, capture_output=True, text=True).stdout.strip()
    result = root / "outbox" / f"{job_id}.yaml"
    while not result.exists():
        time.sleep(0.001)
    return time.perf_counter() - start, job_id


def time_script(script: Path, *args: Path) -> float:
    """Seconds to run the Python script at `script` with `args` in a new interpreter (what
    it prints is thrown away)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script), *map(str, args)], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def file_creation_us(folder: Path, files: int = 100) -> float:
    """Median microseconds to create an empty file in `folder` (made if missing) right
    now. On ext4 without a journal (this machine's disk) it is about 40 us, but over 1 ms
    for one to six minutes after many files were deleted nearby, and a small job creates
    five. The files are left for the caller's clean-up: deleting them here would slow what
    follows."""
    folder.mkdir(exist_ok=True)
    times = []
    for k in range(files):
        start = time.perf_counter()
        os.close(os.open(folder / f"probe-{k}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def spool_file_creation(root: Path) -> str:
    """What creating a file in the spool at `root` costs now, as a line to print beside a
    benchmark's figures, which depend on it."""
    return (f"creating a file in the spool took {file_creation_us(root / 'creation-probe'):.0f} us "
            "(median; see the README's speed section: over about 200 us, recent deletions are "
            "slowing this disk)")


def descendants(pid: int) -> list[int]:
    """Every process below `pid`."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = (int(x) for x in line.split())
        children.setdefault(parent, []).append(child)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _cpu_ticks(stat_file: str, waited_for: bool = False) -> int:
    """Clock ticks of CPU (user and system) in the /proc stat file `stat_file` of a process
    or thread; with `waited_for`, those of its children that ended and were waited for
    too. OSError if it is gone."""
    # the fields after the name, which may hold spaces: utime, stime, cutime, cstime from 11
    fields = Path(stat_file).read_text().rsplit(")", 1)[1].split()
    return sum(int(field) for field in fields[11:15 if waited_for else 13])


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) used so far by `pid`, all its threads."""
    return _cpu_ticks(f"/proc/{pid}/stat") / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user and system) used so far by each thread of `pid`, by thread id."""
    seconds = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            ticks = _cpu_ticks(f"/proc/{pid}/task/{tid}/stat")
        except OSError:  # the thread ended meanwhile
            continue
        seconds[int(tid)] = ticks / os.sysconf("SC_CLK_TCK")
    return seconds


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) used so far by `pid` and every process below it,
    those that ended and were waited for included (0 for a process that is gone)."""
    ticks = 0
    for each in [pid, *descendants(pid)]:
        try:
            ticks += _cpu_ticks(f"/proc/{each}/stat", waited_for=True)
        except OSError:
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU seconds used so far by this process's children that ended and were waited for
    (and theirs, that they waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rss_mib(pid: int) -> float:
    """Resident memory of `pid` in MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def shared_and_own_mib(pid: int) -> tuple[float, float]:
    """(PSS, USS) of `pid` in MiB, (0, 0) if it is gone. RSS counts every page a process
    maps in full, the pages of shared libraries (libpython, numpy's, FLINT's) and those a
    forked worker shares with its parent too; PSS counts a page shared by n processes as
    1/n of it, USS only the pages no other process maps. Slower to read than RSS."""
    try:
        fields = dict(line.split(":", 1) for line in
                      Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    except OSError:
        return 0.0, 0.0
    kib = {name: int(value.split()[0]) for name, value in fields.items()}
    return kib["Pss"] / 1024, (kib["Private_Clean"] + kib["Private_Dirty"]) / 1024


def primes_below(stop: int) -> set[int]:
    """Every prime below `stop`, by a plain sieve: the reference for checking results."""
    flags = bytearray([1]) * stop
    flags[0:2] = b"\0\0"
    for n in range(2, int(stop ** 0.5) + 1):
        if flags[n]:
            flags[n * n::n] = bytearray(len(range(n * n, stop, n)))
    return {n for n in range(stop) if flags[n]}


def time_on_halves(pool, work, numbers: Path, output: Path) -> float:
    """Seconds for a floor: the file `numbers` cut in two at the newline nearest its
    middle, `work(numbers, start, stop)` (the output of the whole lines in bytes [start,
    stop), as bytes) run on each half by the two processes of the started `pool`, the
    halves written to `output` in order."""
    start = time.perf_counter()
    size = numbers.stat().st_size
    with open(numbers, "rb") as source:
        source.seek(size // 2)
        source.readline()
        middle = source.tell()
    halves = pool.starmap(work, [(numbers, 0, middle), (numbers, middle, size)], chunksize=1)
    with open(output, "wb") as out:
        out.writelines(halves)
    return time.perf_counter() - start


def lines_between(numbers: Path, start: int, stop: int) -> list[bytes]:
    """The whole lines of the file `numbers` in bytes [start, stop)."""
    with open(numbers, "rb") as source:
        source.seek(start)
        return source.read(stop - start).split()
