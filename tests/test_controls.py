"""Job controls end to end, with real daemons: priorities, retries with backoff of a
chunk whose worker is SIGKILLed, `runner retry`, `runner prune` and `retention_days`."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from conftest import (big_reference, chunks_recorded, cpu_seconds, drop_job,
                      kill_a_computing_worker, read_result, result_primes, run_cli, sieve,
                      state_dir, wait_for_result, wait_ready, wait_until, write_config,
                      write_numbers)
from runner import listing
from runner.events import EVENTS_FILE

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def events_of(spool, job_id=None) -> list[dict]:
    path = spool.state / EVENTS_FILE
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [r for r in records if job_id is None or r.get("job") == job_id]


def started_order(spool) -> list[str]:
    return [r["job"] for r in events_of(spool) if r["event"] == "started"]


def epoch(record: dict) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


# -- priority ----------------------------------------------------------------------


def test_queued_jobs_run_by_priority_then_in_the_order_queued(spool, start_daemon, tmp_path):
    write_config(spool.root, max_running_jobs=1)
    base = time.time() - 100
    for n, (name, priority) in enumerate([("low-first", None), ("mid-a", 2), ("neg", -1),
                                          ("high", 5), ("mid-b", 2), ("low-second", 0)]):
        job = {"id": name, "numbers": [2, 3, 4]}
        if priority is not None:
            job["priority"] = priority
        path = drop_job(spool, f"{name}.yaml", job)
        os.utime(path, (base + n, base + n))
    numbers = write_numbers(tmp_path / "top.txt", [5, 6, 7])
    ok(run_cli(spool, "submit", str(numbers), "--priority", "9", "--retries", "4"))
    queued = json.loads(ok(run_cli(spool, "inspect", "top", "--json")).stdout)
    assert (queued["priority"], queued["spec"]["priority"], queued["spec"]["retries"]) == (9, 9, 4)
    assert (spool.jobs / "top.yaml").read_text().startswith("id: top\npriority: 9\n")
    daemon = start_daemon()
    for name in ("low-first", "mid-a", "neg", "high", "mid-b", "low-second", "top"):
        assert wait_for_result(spool, name)["state"] == "done", daemon.log()
    assert started_order(spool) == ["top", "high", "mid-a", "mid-b", "low-first", "low-second",
                                    "neg"], (started_order(spool), daemon.log())
    assert read_result(spool, "top")["primes"] == [5, 7]
    assert json.loads(ok(run_cli(spool, "inspect", "top", "--json")).stdout)["spec"]["retries"] == 4
    assert daemon.stop() == 0


def test_a_job_dropped_later_with_a_higher_priority_overtakes_the_queue(spool, start_daemon):
    write_config(spool.root, max_running_jobs=1)
    daemon = start_daemon()
    wait_ready(daemon)
    start = 2 ** 2000
    drop_job(spool, "blocker.yaml", {"id": "blocker", "range": {"start": start, "stop": start + 50_000},
                                     "pool": {"processes": 1, "chunksize": 500}})
    wait_until(lambda: chunks_recorded(spool, "blocker") >= 1, 30, "the blocker running")
    for name, priority in (("early-low", 0), ("late-high", 1), ("later-low", 0)):
        drop_job(spool, f"{name}.yaml", {"id": name, "numbers": [11], "priority": priority})
        time.sleep(0.05)
    statuses = json.loads(ok(run_cli(spool, "status", "--json")).stdout)["jobs"]
    assert [(j["id"], j["priority"]) for j in statuses if j["state"] == "queued"] == [
        ("late-high", 1), ("early-low", 0), ("later-low", 0)]
    ok(run_cli(spool, "cancel", "blocker"))
    for name in ("early-low", "late-high", "later-low"):
        wait_for_result(spool, name)
    assert started_order(spool) == ["blocker", "late-high", "early-low", "later-low"]
    assert daemon.stop() == 0


def test_a_bad_priority_fails_its_job_with_a_fix_and_the_daemon_goes_on(spool, start_daemon):
    daemon = start_daemon()
    drop_job(spool, "word.yaml", "id: word\nnumbers: [5]\npriority: urgent\n")
    drop_job(spool, "huge.yaml", "id: huge\nnumbers: [5]\npriority: 99999999999\n")
    drop_job(spool, "tries.yaml", "id: tries\nnumbers: [5]\nretries: -2\n")
    drop_job(spool, "fine.yaml", "id: fine\nnumbers: [5]\npriority: 3\nretries: 0\n")
    for name, words in (("word", ["priority", "'urgent'", "integer"]),
                        ("huge", ["priority", "99999999999", "less than or equal to 1000000"]),
                        ("tries", ["retries", "-2", "greater than or equal to 0"])):
        result = wait_for_result(spool, name)
        assert result["state"] == "failed", result
        error = result["error"]
        assert error["file"] == f"jobs/{name}.yaml" and error["fix"], error
        for word in words:
            assert word in error["message"], (word, error)
    assert wait_for_result(spool, "fine")["primes"] == [5]
    assert daemon.alive(), daemon.log()
    assert daemon.stop() == 0


# -- retries with backoff ---------------------------------------------------------------


def kill_computing_workers(spool, daemon, job_id: str, kills: int, timeout: float = 60) -> list[int]:
    """SIGKILL `kills` workers in turn, each once it has computed for over 0.4 s CPU (a
    fresh worker uses well under that): each kill loses the chunk it is computing."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while len(killed) < kills and read_result(spool, job_id) is None:
        assert time.monotonic() < deadline, f"killed {killed}; log:\n{daemon.log()}"
        for pid in daemon.worker_pids():
            used = cpu_seconds(pid)
            if pid not in killed and used is not None and used > 0.4 and len(killed) < kills:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.02)
    return killed


def test_lost_chunks_are_retried_after_a_doubling_backoff_then_the_job_fails(spool, start_daemon):
    write_config(spool.root, retry_backoff_seconds=0.6, retry_backoff_max_seconds=10)
    start, count = 2 ** 4000, 3_000  # one chunk of about 3.5 s CPU, on one worker
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "poison.yaml", {"id": "poison", "range": {"start": start, "stop": start + count},
                                    "pool": {"processes": 1, "chunksize": count}, "retries": 2})
    killed = kill_computing_workers(spool, daemon, "poison", 3)
    result = wait_for_result(spool, "poison", timeout=30)
    assert len(killed) == 3
    assert result["state"] == "failed", result
    assert "3 tries" in result["error"]["message"], result["error"]
    assert "retries" in result["error"]["fix"], result["error"]
    assert result["chunks"]["retried"] == 2, result
    records = events_of(spool, "poison")
    lost = [r for r in records if r["event"] == "worker_lost"]
    retried = [r for r in records if r["event"] == "chunk_retried"]
    assert [r["attempt"] for r in lost] == [1, 2, 3], records
    assert [r["attempt"] for r in retried] == [2, 3], records
    first_gap = epoch(retried[0]) - epoch(lost[0])
    second_gap = epoch(retried[1]) - epoch(lost[1])
    assert 0.55 <= first_gap < 3.0, first_gap
    assert 1.15 <= second_gap < 4.0, second_gap  # doubled
    assert daemon.alive() and daemon.stop() == 0


def test_a_retried_chunk_waits_without_stalling_the_daemon(spool, start_daemon):
    write_config(spool.root, retry_backoff_seconds=3)
    start, count, chunksize = 2 ** 2000, 21_600, 1_800  # 12 chunks of ~0.3 s CPU
    expected = list(big_reference(start, start + count))
    daemon = start_daemon()
    drop_job(spool, "victim.yaml", {"id": "victim", "range": {"start": start, "stop": start + count},
                                    "pool": {"processes": 2, "chunksize": chunksize}, "retries": 1})
    kill_a_computing_worker(spool, daemon, "victim")
    lost_at = wait_until(lambda: [r for r in events_of(spool, "victim") if r["event"] == "worker_lost"],
                         10, "the loss in the events log")[0]
    # during the backoff the loop runs on: a small job, on the same pool, is done first
    drop_job(spool, "meanwhile.yaml", {"id": "meanwhile", "numbers": [2, 9, 13],
                                       "pool": {"processes": 2, "chunksize": chunksize}})
    meanwhile = wait_for_result(spool, "meanwhile", timeout=10)
    assert meanwhile["primes"] == [2, 13]
    result = wait_for_result(spool, "victim", timeout=60)
    assert result["state"] == "done", (result, daemon.log())
    assert result_primes(spool, result) == expected
    assert result["chunks"]["retried"] == 1
    retried = [r for r in events_of(spool, "victim") if r["event"] == "chunk_retried"]
    assert len(retried) == 1 and epoch(retried[0]) - epoch(lost_at) >= 2.9
    done_meanwhile = [r for r in events_of(spool, "meanwhile") if r["event"] == "done"][0]
    assert epoch(done_meanwhile) < epoch(retried[0])
    assert daemon.stop() == 0


def test_retries_zero_fails_at_the_first_loss(spool, start_daemon):
    start, count = 2 ** 4000, 3_000
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "once.yaml", {"id": "once", "range": {"start": start, "stop": start + count},
                                  "pool": {"processes": 1, "chunksize": count}, "retries": 0})
    assert len(kill_computing_workers(spool, daemon, "once", 1)) == 1
    result = wait_for_result(spool, "once", timeout=20)
    assert result["state"] == "failed" and "on each of" not in result["error"]["message"], result
    assert result["chunks"]["retried"] == 0
    assert daemon.stop() == 0


# -- runner retry -------------------------------------------------------------------------


def test_retry_a_cancelled_job_queues_a_fresh_one_and_keeps_the_old(spool, start_daemon, tmp_path):
    start = 2 ** 3000
    numbers = write_numbers(tmp_path / "big.txt", range(start, start + 6_000))
    job_id = ok(run_cli(spool, "submit", str(numbers), "--chunksize", "100", "--priority", "4")).stdout.strip()
    assert job_id == "big"
    daemon = start_daemon()
    wait_until(lambda: chunks_recorded(spool, "big") >= 1, 30, "the job running")
    assert ok(run_cli(spool, "cancel", "big")).stdout.strip() == "big: cancelled"
    retried = ok(run_cli(spool, "retry", "big", "--json"))
    assert json.loads(retried.stdout) == {"id": "big-2", "retry_of": "big"}
    result = wait_for_result(spool, "big-2", timeout=60)
    assert result["state"] == "done", (result, daemon.log())
    assert result_primes(spool, result) == list(big_reference(start, start + 6_000))
    assert result["settings"]["chunksize"] == 100
    assert read_result(spool, "big")["state"] == "cancelled"  # the old result stays
    assert json.loads(ok(run_cli(spool, "inspect", "big-2", "--json")).stdout)["priority"] == 4
    submitted = [r for r in events_of(spool, "big-2") if r["event"] == "submitted"]
    assert submitted and submitted[0]["retry_of"] == "big"
    again = run_cli(spool, "retry", "big-2")
    assert again.returncode != 0 and "only a failed or cancelled" in again.stderr, again.stderr
    missing = run_cli(spool, "retry", "nope")
    assert missing.returncode != 0 and "no job with id 'nope'" in missing.stderr
    assert daemon.stop() == 0


def test_a_job_cancelled_while_queued_can_be_retried_again_and_again(spool, start_daemon, tmp_path):
    numbers = write_numbers(tmp_path / "few.txt", range(50))
    assert ok(run_cli(spool, "submit", str(numbers))).stdout.strip() == "few"
    assert ok(run_cli(spool, "cancel", "few")).stdout.strip() == "few: cancelled"  # no daemon yet
    assert ok(run_cli(spool, "retry", "few")).stdout.strip() == "few-2"
    assert ok(run_cli(spool, "retry", "few")).stdout.strip() == "few-3"  # its numbers are kept
    daemon = start_daemon()
    for job_id in ("few-2", "few-3"):
        result = wait_for_result(spool, job_id)
        assert result["state"] == "done" and result_primes(spool, result) == sieve(50), result
    assert daemon.stop() == 0
    assert list(spool.inputs.iterdir()) == []  # every stored copy was taken by its job
    assert ok(run_cli(spool, "retry", "few")).stdout.strip() == "few-4"


def test_retry_a_failed_job_after_fixing_the_config(spool, start_daemon, tmp_path):
    numbers = write_numbers(tmp_path / "twenty.txt", range(20))
    ok(run_cli(spool, "submit", str(numbers)))
    write_config(spool.root, limits={"numbers": 10})  # tightened once it was queued
    daemon = start_daemon()
    failed = wait_for_result(spool, "twenty")
    assert failed["state"] == "failed" and "limits.numbers" in failed["error"]["message"], failed
    assert daemon.stop() == 0
    write_config(spool.root, limits={"numbers": 100})
    assert ok(run_cli(spool, "retry", "twenty")).stdout.strip() == "twenty-2"
    daemon = start_daemon()
    assert wait_for_result(spool, "twenty-2")["primes"] == sieve(20)
    assert daemon.stop() == 0


# -- prune and retention -------------------------------------------------------------


def age(spool, job_id: str, days: float) -> None:
    old = time.time() - days * 86400
    os.utime(spool.result_path(job_id), (old, old))


def make_finished_jobs(spool, start_daemon):
    """old-done (with a primes file), old-failed, new-done; then a queued job, aged."""
    write_config(spool.root, inline_max=5)
    daemon = start_daemon()
    drop_job(spool, "old-done.yaml", {"id": "old-done", "range": {"start": 0, "stop": 100}})
    drop_job(spool, "old-failed.yaml", "id: old-failed\nnumbers: [-1]\n")
    drop_job(spool, "new-done.yaml", {"id": "new-done", "numbers": [7]})
    for name in ("old-done", "old-failed", "new-done"):
        wait_for_result(spool, name)
    assert daemon.stop() == 0
    assert (spool.outbox / "old-done.primes").exists()
    age(spool, "old-done", 10)
    age(spool, "old-failed", 8)
    age(spool, "new-done", 1)
    queued = drop_job(spool, "waiting.yaml", {"id": "waiting", "numbers": [3]})
    os.utime(queued, (time.time() - 30 * 86400,) * 2)


def test_prune_dry_run_lists_and_prune_removes_old_finished_jobs(spool, start_daemon):
    make_finished_jobs(spool, start_daemon)
    dry = ok(run_cli(spool, "prune", "--older-than", "7d", "--dry-run"))
    assert sorted(line.split("\t")[:3] for line in dry.stdout.splitlines()) == [
        ["would remove", "old-done", "done"], ["would remove", "old-failed", "failed"]]
    assert "would remove 2 jobs" in dry.stderr
    assert spool.result_path("old-done").exists() and listing.find(spool, "old-failed") is not None

    removed = json.loads(ok(run_cli(spool, "prune", "--older-than", "7d", "--json")).stdout)
    assert sorted((job["id"], job["state"]) for job in removed) == [
        ("old-done", "done"), ("old-failed", "failed")]
    for gone in ("old-done", "old-failed"):
        assert not spool.result_path(gone).exists()
        assert listing.find(spool, gone) is None
    assert not (spool.outbox / "old-done.primes").exists()
    assert not state_dir(spool, "done", "old-done").exists()
    ids = {job["id"]: job["state"] for job in json.loads(ok(run_cli(spool, "status", "--json")).stdout)["jobs"]}
    assert ids == {"new-done": "done", "waiting": "queued"}
    assert [r["job"] for r in events_of(spool) if r["event"] == "pruned"] != []
    nothing = ok(run_cli(spool, "prune", "--older-than", "7d"))
    assert nothing.stdout == "" and "removed 0 jobs" in nothing.stderr
    bad = run_cli(spool, "prune", "--older-than", "7 days")
    assert bad.returncode == 2 and "not a duration" in bad.stderr, bad.stderr


def test_retention_days_prunes_at_a_rescan(spool, start_daemon):
    make_finished_jobs(spool, start_daemon)
    write_config(spool.root, retention_days=7)
    daemon = start_daemon()
    wait_until(lambda: not spool.result_path("old-done").exists()
               and not spool.result_path("old-failed").exists(), 10, "retention to prune")
    assert wait_for_result(spool, "waiting")["primes"] == [3]  # queued long ago: run, not pruned
    assert listing.find(spool, "new-done") is not None and spool.result_path("new-done").exists()
    assert not state_dir(spool, "failed", "old-failed").exists()
    assert sorted(r["job"] for r in events_of(spool) if r["event"] == "pruned") == [
        "old-done", "old-failed"]
    assert "pruned 2 finished jobs" in daemon.log()
    assert daemon.stop() == 0
