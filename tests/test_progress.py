"""Progress seen from other processes, end to end with a real daemon: rate and ETA in
`runner inspect`/`status`, `status --watch` redrawing, `runner submit --wait` (its
progress, plain and on a terminal, and its exit codes), and `runner submit -`."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

import pytest

from runner import client
from conftest import (chunks_recorded, drop_job, read_result, result_primes, run_cli,
                      runner_command, sieve, wait_for_result, wait_ready, wait_until,
                      write_numbers)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

SLOW_START = 2 ** 2000  # numbers of 2000 bits: about 0.17 ms each to test


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def drop_slow_job(spool, job_id: str, count: int = 40_000) -> None:
    drop_job(spool, f"{job_id}.yaml", {"id": job_id, "range": {"start": SLOW_START,
                                                              "stop": SLOW_START + count},
                                       "pool": {"processes": 2, "chunksize": 1_000}})


def on_terminal(args: list[str], seconds: float, stop_after: float | None = None) -> tuple[int, str]:
    """Run `args` with stdin, stdout and stderr on a pseudo-terminal; its exit code and
    all it wrote. With `stop_after`, send SIGINT (Ctrl-C) that many seconds in."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "COLUMNS": "140", "TERM": "xterm"})
    os.close(slave)
    out, began, interrupted = b"", time.monotonic(), False
    try:
        while time.monotonic() - began < seconds:
            if stop_after is not None and not interrupted and time.monotonic() - began > stop_after:
                proc.send_signal(signal.SIGINT)
                interrupted = True
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
        return proc.wait(10), out.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# -- rate and ETA ------------------------------------------------------------------------


def test_a_running_job_shows_its_rate_and_eta_to_other_processes(spool, start_daemon):
    daemon = start_daemon()
    drop_slow_job(spool, "slow")

    def measured():
        details = json.loads(ok(run_cli(spool, "inspect", "slow", "--json")).stdout)
        # the first samples may see a few numbers only (a loaded machine, a chunk starting)
        return details if details["state"] == "running" and (details["rate"] or 0) > 100 \
            else None

    details = wait_until(measured, 30, "a rate over 100 numbers/s for the running job")
    assert 0 < details["tested"] < details["total"] == 40_000
    expected_eta = (details["total"] - details["tested"]) / details["rate"]
    assert details["eta"] == pytest.approx(expected_eta, rel=0.02, abs=0.1), details
    assert details["priority"] == 0 and details["elapsed"] > 0
    plain = ok(run_cli(spool, "status")).stdout.splitlines()
    row = dict(zip(plain[0].split("\t"), plain[1].split("\t")))
    assert row["ID"] == "slow" and row["RATE"].endswith("/s") and row["ETA"].endswith("s"), row
    result = wait_for_result(spool, "slow", timeout=60)
    assert result["state"] == "done"
    finished = json.loads(ok(run_cli(spool, "inspect", "slow", "--json")).stdout)
    assert finished["rate"] is None and finished["eta"] is None  # only a running job has them
    assert daemon.stop() == 0


def test_status_on_a_terminal_draws_a_progress_bar(spool, start_daemon):
    daemon = start_daemon()
    drop_job(spool, "small.yaml", {"id": "small", "numbers": [2, 3, 4]})
    wait_for_result(spool, "small")
    code, out = on_terminal(runner_command("status", "--root", str(spool.root)), 20)
    assert code == 0, out
    assert "small" in out and "PRIORITY" in out and "━" in out, out  # rich's bar
    assert daemon.stop() == 0


# -- status --watch ------------------------------------------------------------------------


def test_status_watch_redraws_until_interrupted(spool, start_daemon):
    daemon = start_daemon()
    drop_slow_job(spool, "watched", 300_000)  # about 25 s: still running when cancelled
    wait_until(lambda: chunks_recorded(spool, "watched") >= 1, 30, "the job running")
    proc = subprocess.Popen(runner_command("status", "--watch", "--interval", "0.2",
                                           "--root", str(spool.root)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    snapshots = [block.splitlines() for block in out.strip().split("\n\n")]
    assert len(snapshots) >= 5, out
    tested = []
    for lines in snapshots:
        assert lines[0].startswith("ID\tSTATE\tTASK\tPRIORITY\tPROGRESS"), lines
        row = dict(zip(lines[0].split("\t"), lines[1].split("\t")))
        assert row["ID"] == "watched"
        tested.append(int(row["PROGRESS"].split("/")[0]))
    assert tested == sorted(tested) and tested[-1] > tested[0], tested  # it moved on

    as_json = subprocess.Popen(runner_command("status", "--watch", "--json", "--interval", "0.2",
                                              "--root", str(spool.root)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    as_json.send_signal(signal.SIGINT)
    out, _ = as_json.communicate(timeout=10)
    shown = [json.loads(line) for line in out.splitlines()]
    assert len(shown) >= 3 and all(one["jobs"][0]["id"] == "watched" for one in shown), out
    assert all(one["daemons"] for one in shown), out
    ok(run_cli(spool, "cancel", "watched"))
    assert daemon.stop() == 0


def test_status_watch_on_a_terminal_redraws_in_place(spool, start_daemon):
    daemon = start_daemon()
    drop_slow_job(spool, "live", 60_000)
    wait_until(lambda: chunks_recorded(spool, "live") >= 1, 30, "the job running")
    code, out = on_terminal(runner_command("status", "--watch", "--interval", "0.2",
                                           "--root", str(spool.root)), 20, stop_after=2.0)
    assert code == 0, out
    assert out.count("PRIORITY") >= 4, out  # the table drawn again and again
    assert "\x1b[" in out  # over the last one: cursor moves, not a scroll of tables
    ok(run_cli(spool, "cancel", "live"))
    assert daemon.stop() == 0


# -- submit --wait and stdin ------------------------------------------------------------------


def test_submit_wait_exits_0_when_done_and_prints_progress_lines(spool, start_daemon, tmp_path):
    daemon = start_daemon()
    wait_ready(daemon)  # serving the spool, so --wait says which daemon does
    numbers = write_numbers(tmp_path / "thousand.txt", range(1, 20_001))
    proc = ok(run_cli(spool, "submit", str(numbers), "--chunksize", "500", "--wait"))
    assert proc.stdout == "thousand\n"  # the id alone, as without --wait
    said, *lines = proc.stderr.splitlines()
    assert said.startswith(f"runner: daemon: pid {daemon.pid} on "), said  # who serves it
    assert lines[-1] == "thousand: done, 20000 tested, 2262 primes (outbox/thousand.yaml)", lines
    progress = [line.split() for line in lines[:-1]]
    assert progress and all(p[0] == "thousand" and p[2].startswith("tested=") for p in progress)
    assert all(p[1] in ("queued", "running", "done") for p in progress), progress
    result = read_result(spool, "thousand")
    assert result["state"] == "done" and result_primes(spool, result) == sieve(20_001)

    as_json = ok(run_cli(spool, "submit", str(numbers), "--id", "again", "--wait", "--json"))
    assert json.loads(as_json.stdout) == read_result(spool, "again")
    assert daemon.stop() == 0


def test_submit_wait_exits_1_when_the_job_fails(spool, start_daemon, tmp_path):
    daemon = start_daemon()
    bad = write_numbers(tmp_path / "bad.txt", range(SLOW_START, SLOW_START + 2000))
    # each chunk of 1000 numbers takes far longer than its 0.05 s: the job fails
    proc = run_cli(spool, "submit", str(bad), "--chunksize", "1000", "--timeout", "0.05",
                   "--retries", "0", "--wait")
    assert proc.returncode == 1, proc
    assert "bad: failed" in proc.stderr and "timeout" in proc.stderr, proc.stderr
    taken = run_cli(spool, "submit", str(bad), "--id", "bad", "--wait")
    assert taken.returncode == 2 and "exists already" in taken.stderr  # not queued at all
    assert daemon.stop() == 0


def wait_on_a_long_job(spool, tmp_path, job_id: str, then) -> tuple[subprocess.Popen, str, str]:
    """`runner submit --wait` of a job of some seconds; once it runs, `then(process)`;
    the process, once ended, and its stdout and stderr."""
    numbers = write_numbers(tmp_path / f"{job_id}.txt", range(SLOW_START, SLOW_START + 60_000))
    waiting = subprocess.Popen(runner_command("submit", str(numbers), "--chunksize", "1000",
                                              "--wait", "--root", str(spool.root)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: chunks_recorded(spool, job_id) >= 1, 30, "the job running")
        then(waiting)
        out, err = waiting.communicate(timeout=20)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(10)
    return waiting, out, err


def test_submit_wait_exits_3_when_the_job_is_cancelled(spool, start_daemon, tmp_path):
    daemon = start_daemon()
    wait_ready(daemon)
    waiting, out, err = wait_on_a_long_job(spool, tmp_path, "long",
                                           lambda _: ok(run_cli(spool, "cancel", "long")))
    assert waiting.returncode == 3, (out, err)
    assert out == "long\n" and "long: cancelled" in err, err
    assert daemon.stop() == 0


def test_submit_wait_on_a_terminal_shows_a_progress_bar(spool, start_daemon, tmp_path):
    daemon = start_daemon()
    numbers = write_numbers(tmp_path / "bar.txt", range(SLOW_START, SLOW_START + 10_000))
    code, out = on_terminal(runner_command("submit", str(numbers), "--chunksize", "500", "--wait",
                                           "--root", str(spool.root)), 60)
    assert code == 0, out
    assert "━" in out and "10000/10000" in out, out
    assert daemon.stop() == 0


def test_submit_dash_reads_numbers_from_stdin(spool, start_daemon):
    daemon = start_daemon()
    numbers = "".join(f"{n}\n" for n in range(1000))
    proc = ok(run_cli(spool, "submit", "-", "--priority", "2", "--wait", input=numbers))
    assert proc.stdout == "stdin\n"
    result = read_result(spool, "stdin")
    assert result["state"] == "done" and result_primes(spool, result) == sieve(1000)
    assert result["input"]["numbers_file"] == "stdin"
    again = ok(run_cli(spool, "submit", "-", "--id", "piped", input="97\n98\n"))
    assert again.stdout == "piped\n"
    assert wait_for_result(spool, "piped")["primes"] == [97]
    assert daemon.stop() == 0


def test_ctrl_c_stops_the_waiting_not_the_job(spool, start_daemon, tmp_path):
    daemon = start_daemon()
    waiting, out, err = wait_on_a_long_job(spool, tmp_path, "goes-on",
                                           lambda proc: proc.send_signal(signal.SIGINT))
    assert waiting.returncode == 130, (out, err)
    assert "stopped waiting; job goes-on goes on" in err, err
    tested = chunks_recorded(spool, "goes-on")
    wait_until(lambda: chunks_recorded(spool, "goes-on") > tested, 20, "the job going on")
    ok(run_cli(spool, "cancel", "goes-on"))
    assert daemon.stop() == 0


def costly_prime() -> int:
    """A 1024-bit prime (deterministic): the most a 1024-bit number costs to test."""
    import gmpy2

    return int(gmpy2.next_prime(2 ** 1023 + 2 ** 500))


def job_row(spool, job_id: str) -> dict | None:
    """The job's row of `runner status`, or None before it is seen."""
    return next((job for job in client.status(spool) if job["id"] == job_id), None)


def watch_progress(spool, job_id: str, seconds: float = 90,
                   until=lambda row: row["state"] in ("done", "failed", "cancelled")):
    """Sample the job's row every 50 ms while it runs, until `until(row)`: the rows whose
    `tested` differs from the one before, in order, and the seconds between them."""
    seen, gaps, last_change = [], [], None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = job_row(spool, job_id)
        now = time.monotonic()
        if row is not None and row["state"] == "running" and row["total"]:
            if not seen or row["tested"] != seen[-1]["tested"]:
                if last_change is not None:
                    gaps.append(round(now - last_change, 2))
                seen.append(row)
                last_change = now
        if row is not None and until(row):
            break
        time.sleep(0.05)
    return seen, gaps


@pytest.mark.timeout(120)
def test_progress_moves_every_two_seconds_on_expensive_numbers(spool, start_daemon, tmp_path):
    """A job of thousands of 1024-bit numbers, every one a prime (the worst case; a number
    may appear more than once), names no chunksize: its chunks are sized by what they
    cost, so its progress moves in small steps, never 2 s apart."""
    numbers = write_numbers(tmp_path / "costly.txt", [costly_prime()] * 4000)
    daemon = start_daemon()
    wait_ready(daemon)
    ok(run_cli(spool, "submit", str(numbers)))
    seen, gaps = watch_progress(spool, "costly")
    seen = [row["tested"] for row in seen]
    result = wait_for_result(spool, "costly")
    assert result["state"] == "done" and result["primes_found"] == 4000, result
    assert result["settings"]["chunksize"] < 1000, result["settings"]
    assert len(seen) >= 8, f"progress moved in {len(seen)} steps: {seen}"
    assert max(gaps, default=0) <= 2.0, f"progress stood still for {max(gaps):.1f} s: {gaps}"
    assert daemon.stop() == 0


@pytest.mark.timeout(120)
def test_progress_moves_within_chunks_that_the_job_makes_big(spool, start_daemon, tmp_path):
    """A job that names a chunksize of 1500 1024-bit primes (a few seconds a chunk): its
    progress still moves every 2 s at most, counting the numbers done and the primes
    found within the chunks its workers compute, and ends exact."""
    numbers = write_numbers(tmp_path / "big-chunks.txt", [costly_prime()] * 3000)
    daemon = start_daemon()
    wait_ready(daemon)
    ok(run_cli(spool, "submit", str(numbers), "--chunksize", "1500", "--processes", "2"))
    rows, gaps = watch_progress(spool, "big-chunks")
    seen = [row["tested"] for row in rows]
    result = wait_for_result(spool, "big-chunks")
    assert result["state"] == "done" and result["numbers_tested"] == 3000, result
    assert result["settings"]["chunksize"] == 1500 and result["chunks"]["done"] == 2, result
    within = [tested for tested in seen if tested % 1500]
    assert len(within) >= 4, f"progress only at chunks' ends: {seen}"
    assert seen == sorted(seen), f"progress went back with no worker lost: {seen}"
    assert all(row["primes"] == row["tested"] for row in rows), rows  # every number a prime
    assert max(gaps, default=0) <= 2.0, f"progress stood still for {max(gaps):.1f} s: {gaps}"
    assert daemon.stop() == 0


@pytest.mark.timeout(120)
def test_a_dead_workers_numbers_leave_the_progress(spool, start_daemon, tmp_path):
    """A worker killed half-way through its chunk: the numbers it had done leave the
    progress (the chunk runs again from its start), and the result counts each number
    once."""
    numbers = write_numbers(tmp_path / "dies.txt", [costly_prime()] * 3000)
    daemon = start_daemon()
    wait_ready(daemon)
    ok(run_cli(spool, "submit", str(numbers), "--chunksize", "3000", "--processes", "1",
               "--retries", "1"))
    seen, _ = watch_progress(spool, "dies", 60, until=lambda row: row["tested"] >= 300)
    before = seen[-1]["tested"] if seen else 0
    assert before >= 300, seen
    busy = wait_until(lambda: daemon.busy_workers(), 10, "the worker computing")
    os.kill(busy[0], signal.SIGKILL)
    fallen, _ = watch_progress(spool, "dies", 30, until=lambda row: row["tested"] < before)
    assert fallen and fallen[-1]["tested"] < before, f"before the kill {seen}, after {fallen}"
    assert fallen[-1]["primes"] < before, fallen  # the primes it had found leave too
    result = wait_for_result(spool, "dies", 60)
    assert result["state"] == "done", result
    assert (result["numbers_tested"], result["primes_found"]) == (3000, 3000), result
    assert result["chunks"]["retried"] == 1, result
    assert daemon.stop() == 0


@pytest.mark.timeout(120)
def test_a_suspended_job_shows_what_its_checkpoint_keeps(spool, start_daemon, tmp_path):
    """A daemon stopped while its job is half-way through big chunks: the job, suspended,
    shows the numbers its checkpoint keeps (whole chunks), not those of the chunks that
    were dropped mid-way and run again by the next daemon."""
    numbers = write_numbers(tmp_path / "halted.txt", [costly_prime()] * 3000)
    daemon = start_daemon()
    wait_ready(daemon)
    ok(run_cli(spool, "submit", str(numbers), "--chunksize", "1500", "--processes", "2"))
    seen, _ = watch_progress(spool, "halted", 60, until=lambda row: row["tested"] >= 300)
    assert seen and seen[-1]["tested"] % 1500, seen  # within a chunk
    assert daemon.stop() == 0
    row = job_row(spool, "halted")
    assert row["state"] == "suspended", row
    assert row["tested"] % 1500 == 0 and row["tested"] == chunks_recorded(spool, "halted") * 1500, row
    again = start_daemon()
    result = wait_for_result(spool, "halted", 60)
    assert (result["state"], result["numbers_tested"]) == ("done", 3000), result
    assert again.stop() == 0
