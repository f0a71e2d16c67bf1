"""Shared fixtures and helpers: a temporary spool, a real daemon started and stopped by
the test, its pool workers, waiting with deadlines, and the prime references."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import gmpy2
import pytest
import yaml

from runner.spool import Spool

# Ctrl-C as a person gives it: a shell starts a background job with SIGINT ignored, and
# an ignored signal stays ignored in every process started from it, so the tests that
# send SIGINT (dashboard, logs -f, status --watch, submit --wait) would see it do nothing.
# A handler here is reset to the default in each process the tests start.
signal.signal(signal.SIGINT, signal.default_int_handler)

# End-to-end tests start processes (a daemon, the CLI, a cluster, a browser): their
# modules say so (`pytestmark = pytest.mark.e2e`), and so does any test that asks for one
# of these fixtures. `python -m pytest -m "not e2e"` runs the rest, in seconds.
_E2E_FIXTURES = {"start_daemon", "browser", "cluster", "cli_cluster", "dask_spool", "plugins",
                 "with_plugins", "dashboard"}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if _E2E_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.e2e)


TEST_CONFIG = {
    "max_processes": 2,
    "rescan_seconds": 0.2,
    "pool_idle_seconds": 5,
}


def write_config(root: Path, **overrides) -> None:
    (root / "config.yaml").write_text(yaml.safe_dump({**TEST_CONFIG, **overrides}))


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    """A fresh spool with a small, fast config."""
    created = Spool.create(tmp_path / "spool")
    write_config(created.root)
    return created


def write_numbers(path: Path, numbers) -> Path:
    """Write a numbers file at `path`: the numbers, one a line."""
    path.write_text("".join(f"{n}\n" for n in numbers))
    return path


def drop_job(spool: Spool, name: str, job) -> Path:
    """Drop a job file into jobs/ the safe way (hidden name, then rename). `job` is a
    mapping (dumped as YAML) or the file's text."""
    text = job if isinstance(job, str) else yaml.safe_dump(job)
    hidden = spool.jobs / f".{name}.tmp"
    hidden.write_text(text)
    dest = spool.jobs / name
    os.rename(hidden, dest)
    return dest


def read_result(spool: Spool, job_id: str):
    path = spool.outbox / f"{job_id}.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def wait_for_result(spool: Spool, job_id: str, timeout: float = 30.0) -> dict:
    """The job's result once it is in outbox/; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = read_result(spool, job_id)
        if result is not None:
            return result
        time.sleep(0.02)
    raise AssertionError(f"no result for {job_id} within {timeout} s; outbox: "
                         f"{sorted(p.name for p in spool.outbox.iterdir())}")


def result_primes(spool: Spool, result: dict) -> list[int]:
    """The primes of a result, inline or from its primes file."""
    if "primes" in result:
        return result["primes"]
    if "primes_file" in result:
        return [int(line) for line in (spool.outbox / result["primes_file"]).read_text().split()]
    return []


def runner_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", *args]


def run_cli(spool: Spool, *args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `runner` command on the spool."""
    return subprocess.run(runner_command(*args, "--root", str(spool.root)), capture_output=True,
                          text=True, timeout=timeout, **kwargs)


class DaemonProcess:
    """A real `runner start` in its own process group, logging to a file; `prefix` is a
    command that runs it (e.g. setpriv, to run it as another user)."""

    def __init__(self, spool: Spool, *extra: str, prefix: tuple[str, ...] = ()):
        self.spool = spool
        self.log_path = spool.root / f"daemon-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [*prefix, *runner_command("start", "--root", str(spool.root), *extra)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """Pids of the daemon's pool workers, whatever their start method.

        Every descendant but the resource trackers and the forkserver itself (the
        daemon's own child); a forkserver's workers, its children, keep its command
        line, so they are told from it by their parent."""
        table = process_table()
        children: dict[int, list[int]] = {}
        for pid, (parent, _) in table.items():
            children.setdefault(parent, []).append(pid)
        found, stack = [], [self.pid]
        while stack:
            parent = stack.pop()
            for pid in children.get(parent, []):
                stack.append(pid)
                cmdline = table[pid][1]
                if "resource_tracker" in cmdline:
                    continue
                if "forkserver import main" in cmdline and parent == self.pid:
                    continue
                found.append(pid)
        return found

    def busy_workers(self, interval: float = 0.15) -> list[int]:
        """Pool workers that used at least 30% of a CPU over the next `interval` seconds."""
        before = {pid: cpu_seconds(pid) for pid in self.worker_pids()}
        time.sleep(interval)
        busy = []
        for pid, start in before.items():
            now = cpu_seconds(pid)
            if start is not None and now is not None and now - start >= interval * 0.3:
                busy.append(pid)
        return busy

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the daemon and everything it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self._log.close()


_TICKS = os.sysconf("SC_CLK_TCK")


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process, read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        table[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return table


def cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU time of a live process; None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


@pytest.fixture
def start_daemon(spool: Spool):
    """Start real daemons on the spool; all are killed at the end of the test."""
    started: list[DaemonProcess] = []

    def start(*extra: str, on: Spool = spool, prefix: tuple[str, ...] = ()) -> DaemonProcess:
        daemon = DaemonProcess(on, *extra, prefix=prefix)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape_metrics(port: int) -> dict[str, float]:
    """One scrape of a daemon's /metrics over HTTP: `name{labels}` -> value, parsed by
    prometheus_client's own parser."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


# -- waiting with deadlines -----------------------------------------------------------


def wait_until(predicate, timeout: float, what: str):
    """`predicate()`'s first true value, polled until `timeout` s; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_for_log(daemon: DaemonProcess, text: str, timeout: float) -> None:
    """Wait for `text` in the daemon's log; fails, showing the log, if it exits or `timeout` s pass."""
    try:
        wait_until(lambda: text in daemon.log() or not daemon.alive(), timeout,
                   f"{text!r} in the daemon's log")
    except AssertionError as error:
        raise AssertionError(f"{error}; log:\n{daemon.log()}") from None
    assert daemon.alive(), daemon.log()


def wait_ready(daemon: DaemonProcess, timeout: float = 15) -> None:
    """Wait until the daemon has logged its start; fails, with its log, if it exits first."""
    wait_for_log(daemon, "daemon started", timeout)


def state_dir(spool: Spool, state: str, job_id: str) -> Path:
    """The job's folder under jobs/.state/<state>/."""
    return spool.state / state / job_id


def kill_a_computing_worker(spool: Spool, daemon: "DaemonProcess", job_id: str) -> int:
    """SIGKILL a worker of `daemon` while it computes a chunk of `job_id`, once the job has
    recorded a chunk (the pool's start-up is over); its pid. Fails if the job ended first."""
    wait_until(lambda: chunks_recorded(spool, job_id) >= 1, 30, "a first chunk recorded")
    busy = wait_until(lambda: daemon.busy_workers(0.1) or read_result(spool, job_id) is not None,
                      30, "a worker computing a chunk")
    assert busy is not True, "the job finished before a worker could be killed; make it longer"
    os.kill(busy[0], signal.SIGKILL)
    return busy[0]


def chunks_recorded(spool: Spool, job_id: str) -> int:
    """`D` lines in the running job's journal: chunks whose primes are in its output."""
    try:
        text = (state_dir(spool, "running", job_id) / "journal").read_text()
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if line.startswith("D "))


# -- prime references ---------------------------------------------------------------


def sieve(stop: int) -> list[int]:
    """Every prime below `stop`: the independent reference for small numbers."""
    if stop < 3:
        return []
    flags = bytearray([1]) * stop
    flags[0:2] = b"\0\0"
    for n in range(2, int(stop ** 0.5) + 1):
        if flags[n]:
            flags[n * n::n] = bytearray(len(range(n * n, stop, n)))
    return [n for n in range(stop) if flags[n]]


def reference_primes(numbers) -> list[int]:
    """The primes among `numbers`, in their order, by gmpy2.is_prime: the reference we trust."""
    return [n for n in numbers if gmpy2.is_prime(n)]


@functools.lru_cache(maxsize=None)
def big_reference(start: int, stop: int) -> tuple[int, ...]:
    """The primes of [start, stop) by gmpy2.is_prime, computed once per range."""
    return tuple(reference_primes(range(start, stop)))


# The book's case study: 17 numbers, of which these 14 are prime (in input order).
BOOK_NUMBERS = [17977, 10619863, 106198, 6620830889, 80630964769, 228204732751,
                1171432692373, 1398341745571, 10963707205259, 15285151248481, 99999199999,
                304250263527209, 30425026352720, 10657331232548839, 10657331232548830,
                44560482149, 1746860020068409]
BOOK_PRIMES = [17977, 10619863, 6620830889, 80630964769, 228204732751,
               1171432692373, 1398341745571, 10963707205259, 15285151248481, 99999199999,
               304250263527209, 10657331232548839, 44560482149, 1746860020068409]


MILLER_RABIN_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
MILLER_RABIN_EXACT_BELOW = 3_317_044_064_679_887_385_961_981  # for these 13 bases


def miller_rabin(n: int) -> bool:
    """Deterministic Miller-Rabin, exact below MILLER_RABIN_EXACT_BELOW (so for every
    n < 2^64): a reference for primality that shares no code with the runner."""
    if n < 2:
        return False
    for p in MILLER_RABIN_BASES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in MILLER_RABIN_BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True
