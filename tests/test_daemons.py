"""Whether a daemon serves the spool is always visible: each daemon enters itself in the
spool under a lock the kernel drops when it dies; `runner status` (table, plain, --json),
`runner inspect`, the dashboard and `runner submit --wait` say who serves the spool, or
that none does; a job whose daemon died is `suspended`, its clock stopped; the result's
timings tell the time the job ran from the time it waited for a daemon."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time

import pytest

from conftest import (drop_job, run_cli, runner_command, wait_for_log, wait_for_result,
                      wait_ready, wait_until)
from test_dashboard import DashboardProcess

pytestmark = pytest.mark.e2e  # it starts processes (see conftest.py)

# about 0.5 ms a number on one core: 40 chunks of 400, 4 to 8 s on two workers
SLOW = {"range": {"start": 2 ** 3000, "stop": 2 ** 3000 + 16_000},
        "pool": {"processes": 2, "chunksize": 400}}


def status_json(spool) -> dict:
    out = run_cli(spool, "status", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def job_row(spool, job_id: str) -> dict:
    return next(job for job in status_json(spool)["jobs"] if job["id"] == job_id)


@pytest.mark.timeout(60)
def test_status_says_no_daemon_then_each_daemon_serving_the_spool(spool, start_daemon):
    none = run_cli(spool, "status")
    assert none.returncode == 0, none.stderr
    assert f"no daemon serves {spool.root}; start one with `runner start --root {spool.root}`" \
        in none.stderr
    assert none.stdout.splitlines()[0].startswith("ID\tSTATE")  # stdout stays a table
    assert status_json(spool)["daemons"] == []

    first = start_daemon()
    wait_ready(first)
    shown = status_json(spool)
    assert [(d["pid"], d["host"], d["backend"]) for d in shown["daemons"]] == [
        (first.pid, socket.gethostname(), "local")]
    assert shown["daemons"][0]["since"].endswith("+00:00")
    assert f"daemon: pid {first.pid} on {socket.gethostname()}" in run_cli(spool, "status").stderr

    second = start_daemon()
    wait_for_log(second, "another daemon already serves this spool: pid "
                 f"{first.pid}", timeout=15)
    wait_ready(second)
    assert {d["pid"] for d in status_json(spool)["daemons"]} == {first.pid, second.pid}

    assert first.stop() == 0  # a clean stop takes its entry out
    assert [d["pid"] for d in status_json(spool)["daemons"]] == [second.pid]
    second.kill()  # a death leaves its entry, but its lock is gone with it
    assert status_json(spool)["daemons"] == []
    assert os.listdir(spool.daemons) == []  # the dead one's entry was swept


@pytest.mark.timeout(120)
def test_a_job_whose_daemon_died_is_suspended_and_its_wait_is_timed(spool, start_daemon):
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "slow.yaml", {"id": "slow", **SLOW})
    wait_until(lambda: job_row(spool, "slow")["tested"] > 0, 30, "the slow job's first chunk")
    row = job_row(spool, "slow")
    assert row["state"] == "running" and row["elapsed"] > 0

    daemon.kill()
    down_at = time.monotonic()
    row = job_row(spool, "slow")
    assert row["state"] == "suspended", row
    assert row["rate"] is None and row["eta"] is None
    time.sleep(1.0)
    later = job_row(spool, "slow")
    assert later["elapsed"] == row["elapsed"], "a suspended job's clock must stop"
    inspected = json.loads(run_cli(spool, "inspect", "slow", "--json").stdout)
    assert inspected["state"] == "suspended" and inspected["daemons"] == []
    plain = run_cli(spool, "status")
    assert "\tsuspended\t" in plain.stdout and "no daemon serves" in plain.stderr

    dashboard = DashboardProcess(spool)
    try:
        _, listed = dashboard.get_json("/api/jobs")
        assert listed["daemons"] == []
        assert {job["id"]: job["state"] for job in listed["jobs"]} == {"slow": "suspended"}
        _, one = dashboard.get_json("/api/jobs/slow")
        assert one["state"] == "suspended" and one["daemons"] == []
    finally:
        dashboard.stop()

    time.sleep(max(0.0, 3.0 - (time.monotonic() - down_at)))  # down for 3 s at least
    downtime = time.monotonic() - down_at
    restarted = start_daemon()
    result = wait_for_result(spool, "slow", timeout=60)
    assert result["state"] == "done", result
    assert job_row(spool, "slow")["state"] == "done"
    timings = result["timings"]
    assert timings["running_seconds"] + timings["waited_for_daemon_seconds"] == \
        pytest.approx(timings["seconds"], abs=0.01)
    # the time from the kill to the restart's start-up, plus at most a progress period and
    # the new daemon's start before it resumed the job
    assert downtime - 0.5 <= timings["waited_for_daemon_seconds"] <= downtime + 10, (downtime, timings)
    restarted.stop()


@pytest.mark.timeout(60)
def test_submit_wait_without_a_daemon_says_so_at_once_and_goes_on_waiting(spool, start_daemon,
                                                                          tmp_path):
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("".join(f"{n}\n" for n in range(100)))
    waiting = subprocess.Popen(
        runner_command("submit", str(numbers), "--wait", "--root", str(spool.root)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([waiting.stderr], [], [], 10)
        first = waiting.stderr.readline() if ready else ""
        assert f"no daemon serves {spool.root}; start one with `runner start --root " \
               f"{spool.root}`; waiting for one" in first, first
        time.sleep(0.5)
        assert waiting.poll() is None, "it must go on waiting"
        daemon = start_daemon()
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert f"daemon: pid {daemon.pid} on {socket.gethostname()}" in err
    assert "numbers: done, 100 tested, 25 primes" in err


@pytest.mark.timeout(60)
def test_a_daemon_killed_alone_is_gone_though_its_forked_workers_live_on(spool, start_daemon):
    """Workers forked from the daemon (start_method: fork) inherit its descriptors: they
    must not keep its entry locked once it died, or status would show it serving."""
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "forked.yaml", {"id": "forked", **SLOW,
                                    "pool": {**SLOW["pool"], "start_method": "fork"}})
    wait_until(lambda: daemon.worker_pids(), 30, "forked workers")
    workers = daemon.worker_pids()
    os.kill(daemon.pid, signal.SIGKILL)  # the daemon alone: its workers stay a while
    daemon.process.wait(10)
    assert any(os.path.exists(f"/proc/{pid}") for pid in workers)
    assert status_json(spool)["daemons"] == []
    assert job_row(spool, "forked")["state"] == "suspended"


@pytest.mark.timeout(90)
def test_a_wait_hears_once_each_time_its_daemon_goes_and_comes_back(spool, start_daemon):
    """`api.wait` while its job's daemon dies: `on_daemons` hears the loss once, then the
    next daemon once; every `on_progress` row while none serves says `suspended`."""
    from runner import api

    daemons = [start_daemon()]
    wait_ready(daemons[0])
    drop_job(spool, "slow.yaml", {"id": "slow", **SLOW})
    heard: list[list[int]] = []
    while_down: list[str] = []

    def on_progress(row: dict) -> None:
        if len(daemons) == 1 and not daemons[0].alive():
            while_down.append(row["state"])
            if row["state"] == "suspended":
                daemons.append(start_daemon())
        elif row["state"] == "running" and row["tested"] > 0 and daemons[0].alive():
            daemons[0].kill()

    result = api.wait(spool, "slow", timeout=60, on_progress=on_progress,
                      on_daemons=lambda served: heard.append([d["pid"] for d in served]))
    assert result["state"] == "done", result
    assert heard == [[daemons[0].pid], [], [daemons[1].pid]], heard
    assert while_down == ["suspended"], while_down
    assert result["timings"]["waited_for_daemon_seconds"] > 0, result["timings"]
