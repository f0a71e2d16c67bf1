"""The events log (runner/events.py) and `runner logs`: unit tests of the log on real
files (several processes appending at once, rotation, a disk that refuses writes),
and end-to-end tests with a real daemon: the events of a job done, failed,
cancelled, and of one whose worker was SIGKILLed; `runner logs --follow`; the
daemon's own log file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import (BOOK_NUMBERS, BOOK_PRIMES, chunks_recorded, drop_job, free_port,
                      kill_a_computing_worker, read_result, runner_command, run_cli,
                      scrape_metrics, wait_for_result, wait_ready, wait_until, write_config,
                      write_numbers)
from runner import events
from runner.events import EventLog, Events

BAD_JOB = "id: bad\nnumbers: [7]\npool:\n  proceses: 2\n"


def job_events(spool, job_id: str) -> list[dict]:
    """`runner logs JOB --json`, parsed."""
    done = run_cli(spool, "logs", job_id, "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def names(records: list[dict]) -> list[str]:
    return [r["event"] for r in records]


# -- the log on its own --------------------------------------------------------------

APPENDER = """
import sys
from pathlib import Path
from runner.events import EventLog
path, writer, count, max_bytes = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
log = EventLog(path, max_bytes=max_bytes)
for seq in range(count):
    # lines from 40 bytes to past 16 KiB: several pages, well over PIPE_BUF
    log.append({"job": f"w{writer}", "event": "x", "seq": seq, "pad": "ab" * (seq * 37 % 8300)})
"""


def run_appenders(path: Path, writers: int, count: int, max_bytes: int) -> None:
    processes = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), str(w), str(count),
                                   str(max_bytes)]) for w in range(writers)]
    for process in processes:
        assert process.wait(60) == 0


def parse_lines(path: Path) -> list[dict]:
    """Every line of the file, each of which must be one whole JSON object."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the file ends in the middle of a line"
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.timeout(90)
def test_concurrent_appenders_never_interleave_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    writers, count = 4, 400
    run_appenders(path, writers, count, max_bytes=1 << 30)
    records = parse_lines(path)
    assert len(records) == writers * count
    for writer in range(writers):
        mine = [r for r in records if r["job"] == f"w{writer}"]
        assert [r["seq"] for r in mine] == list(range(count))
        assert all(len(r["pad"]) == 2 * (r["seq"] * 37 % 8300) for r in mine)


@pytest.mark.timeout(90)
def test_concurrent_appenders_rotating_keep_whole_lines_and_a_bounded_size(tmp_path):
    path = tmp_path / "events.jsonl"
    writers, count, max_bytes = 4, 400, 200_000  # about 3.4 MB written: many rotations
    run_appenders(path, writers, count, max_bytes)
    older, current = parse_lines(path.with_name("events.jsonl.1")), parse_lines(path)
    assert older and current
    biggest_line = 16_700
    for file in (path, path.with_name("events.jsonl.1")):
        assert file.stat().st_size <= max_bytes + writers * biggest_line
    for records in (older, current):  # in each file, each writer's lines in its order
        for writer in range(writers):
            seqs = [r["seq"] for r in records if r["job"] == f"w{writer}"]
            assert seqs == sorted(seqs)
    assert sorted(p.name for p in path.parent.iterdir()) == ["events.jsonl", "events.jsonl.1"]


def test_read_gives_the_older_file_first_and_filters_by_job(tmp_path):
    log = EventLog(tmp_path / "events.jsonl", max_bytes=2_000)
    for seq in range(150):
        log.append({"job": "a" if seq % 3 else "b", "event": "x", "seq": seq})
    assert (tmp_path / "events.jsonl.1").exists()  # rotated
    everything = [r["seq"] for r in log.read()]
    assert everything == sorted(everything) and everything[-1] == 149
    assert len(everything) < 150  # bounded: the oldest lines went with the second rotation
    assert [r["seq"] for r in log.read("b")] == [s for s in everything if s % 3 == 0]
    assert list(log.read("a-job-never-seen")) == []


def test_follow_sees_new_lines_across_rotations(tmp_path):
    log = EventLog(tmp_path / "events.jsonl", max_bytes=3_000)
    log.append({"job": "j", "event": "x", "seq": -1})
    seen: list[int] = []

    def follower():
        for record in log.follow("j", poll_seconds=0.005):
            seen.append(record["seq"])
            if record["seq"] == 299:
                return

    thread = threading.Thread(target=follower, daemon=True)
    thread.start()
    for seq in range(300):
        log.append({"job": "j", "event": "x", "seq": seq, "pad": "p" * 20})
        log.append({"job": "other", "event": "x", "seq": seq})
        time.sleep(0.002)
    thread.join(10)
    assert not thread.is_alive()
    assert seen == list(range(-1, 300))  # every line once, in order, through ~25 rotations
    assert (tmp_path / "events.jsonl.1").exists()


def test_emitting_never_raises_when_the_log_cannot_be_written(tmp_path, caplog):
    full = Events(EventLog(Path("/dev/full")))  # every write fails with ENOSPC
    heard: list[str] = []
    full.subscribe(lambda record: heard.append(record["event"]))
    full.subscribe(lambda record: 1 / 0)  # a broken subscriber is logged, not raised
    full.emit(events.DONE, "j", tested=1)
    full.emit(events.FAILED, "j", error="x" * 10_000)
    assert heard == [events.DONE, events.FAILED]
    assert sum("events are dropped" in r.message for r in caplog.records) == 1  # once, not per event

    folder = tmp_path / "state"  # a folder that is not there yet, then is
    log = EventLog(folder / "events.jsonl")
    log.append({"event": "lost"})
    folder.mkdir()
    log.append({"event": "kept"})
    assert [r["event"] for r in log.read()] == ["kept"]


def test_long_texts_are_shortened_and_quiet_events_are_not_logged(tmp_path):
    emitter = Events(EventLog(tmp_path / "events.jsonl"))
    emitter.emit(events.CHUNK_DONE, "j", tested=5)  # per chunk: metrics only
    emitter.emit(events.FAILED, "j", error="e" * 10_000)
    (record,) = emitter.log.read()
    assert record["event"] == events.FAILED and record["job"] == "j"
    assert record["pid"] == os.getpid() and record["time"].endswith("Z")
    assert len(record["error"]) == events.MAX_TEXT_CHARS + 3


# -- with a real daemon ----------------------------------------------------------------


@pytest.mark.timeout(90)
def test_events_of_a_done_a_failed_and_a_cancelled_job(spool, start_daemon, tmp_path):
    daemon = start_daemon()
    wait_ready(daemon)
    submitted = run_cli(spool, "submit", str(write_numbers(tmp_path / "book.txt", BOOK_NUMBERS)),
                        "--chunksize", "5")
    assert submitted.returncode == 0, submitted.stderr
    drop_job(spool, "bad.yaml", BAD_JOB)
    # one chunk of ~6 s CPU: it is running when cancelled
    drop_job(spool, "long.yaml", {"id": "long", "range": {"start": 2 ** 4000, "stop": 2 ** 4000 + 5000},
                                  "pool": {"processes": 1, "chunksize": 5000}})
    assert wait_for_result(spool, "book")["state"] == "done"
    assert wait_for_result(spool, "bad")["state"] == "failed"
    wait_until(lambda: "started" in names(job_events(spool, "long")), 20, "long started")
    cancelled = run_cli(spool, "cancel", "long")
    assert cancelled.returncode == 0, cancelled.stderr

    book = job_events(spool, "book")
    assert names(book) == [events.SUBMITTED, events.STARTED, events.DONE], book
    assert {r["job"] for r in book} == {"book"}
    assert book[0]["pid"] != daemon.pid and book[1]["pid"] == daemon.pid  # submit, then daemon
    assert book[1]["total"] == 17 and book[1]["chunksize"] == 5
    assert book[2]["tested"] == 17 and book[2]["found"] == len(BOOK_PRIMES)
    assert book[2]["task"] == "primes"
    assert book[2]["chunks"]["done"] == 4
    times = [r["time"] for r in book]
    assert times == sorted(times)

    (bad,) = job_events(spool, "bad")
    assert bad["event"] == events.FAILED
    assert "proceses" in bad["error"] and "did you mean 'processes'" in bad["error"]

    long = job_events(spool, "long")
    assert names(long) == [events.STARTED, events.CANCEL_REQUESTED, events.CANCELLED], long
    assert long[1]["pid"] != daemon.pid  # written by `runner cancel`

    # plain lines when not on a terminal: time, job, event, details
    plain = run_cli(spool, "logs", "bad")
    assert plain.returncode == 0, plain.stderr
    (line,) = plain.stdout.splitlines()
    assert "  bad  failed  " in line and "error=\"jobs/bad.yaml" in line, line
    assert line[:4].isdigit() and not line.startswith("{")

    # every job's events, and the daemon's, oldest first
    everything = [json.loads(line) for line in run_cli(spool, "logs", "--json").stdout.splitlines()]
    assert everything[0]["event"] == events.DAEMON_STARTED and everything[0]["job"] is None
    assert events.POOL_STARTED in names(everything)
    assert [r["time"] for r in everything] == sorted(r["time"] for r in everything)

    missing = run_cli(spool, "logs", "no-such-job")
    assert missing.returncode == 1 and "no job with id 'no-such-job'" in missing.stderr

    # the daemon's own log: a file in the spool, beside stderr
    assert daemon.stop() == 0
    text = (spool.state / "daemon.log").read_text()
    for expected in (f"[{daemon.pid}] runner.daemon INFO daemon started",
                     "runner.run INFO job book done", "runner.daemon WARNING job bad failed",
                     "runner.pools INFO pool 1 started", "runner.daemon INFO daemon stopped"):
        assert expected in text, text
    assert "job book done" in daemon.log()  # and stderr still gets it all
    assert "runner.metrics" not in text  # no metrics_port: no metrics
    assert names(job_events(spool, "book"))[-1] == events.DONE
    assert run_cli(spool, "logs", "--json").stdout.splitlines()[-1].find('"daemon_stopped"') > 0


def read_lines_into(stream, lines: list[str]) -> threading.Thread:
    thread = threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
def test_logs_follow_prints_events_as_they_happen_until_ctrl_c(spool, start_daemon):
    daemon = start_daemon()
    wait_ready(daemon)
    command = runner_command("logs", "--follow", "--root", str(spool.root))
    every = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    only_f2 = subprocess.Popen(command + ["f2", "--json"], stdout=subprocess.PIPE, text=True)
    try:
        lines, f2_lines = [], []
        read_lines_into(every.stdout, lines)
        f2_reader = read_lines_into(only_f2.stdout, f2_lines)
        wait_until(lambda: any("daemon_started" in line for line in lines), 10,
                   "the events written before --follow started")

        drop_job(spool, "f1.yaml", {"numbers": [2, 3, 4]})
        wait_until(lambda: any("  f1  done  " in line for line in lines), 20, "f1's done event")
        drop_job(spool, "f2.yaml", {"numbers": [5, 6, 7]})
        wait_until(lambda: any('"done"' in line for line in f2_lines), 20, "f2's done event")
        wait_until(lambda: any("  f2  done  " in line for line in lines), 5, "f2 in the other")
        assert every.poll() is None and only_f2.poll() is None  # still following
    finally:
        every.send_signal(signal.SIGINT)  # Ctrl-C
        only_f2.terminate()
        code = every.wait(10)
        only_f2.wait(10)
    assert code == 0, every.stderr.read()
    f2_reader.join(5)
    f2 = [json.loads(line) for line in f2_lines]
    assert names(f2) == [events.STARTED, events.DONE] and {r["job"] for r in f2} == {"f2"}
    assert [line.split("  ")[2] for line in lines if "  f1  " in line] == ["started", "done"]
    assert daemon.stop() == 0


@pytest.mark.timeout(120)
def test_events_and_metrics_of_a_job_whose_worker_was_sigkilled_mid_chunk(spool, start_daemon):
    # 12 chunks of ~0.3 s CPU each (2000-bit numbers) on 2 workers, as in test_faults
    start, count, chunksize = 2 ** 2000, 21_600, 1_800
    port = free_port()
    write_config(spool.root, metrics_port=port)
    daemon = start_daemon()
    drop_job(spool, "victim.yaml", {"id": "victim", "range": {"start": start, "stop": start + count},
                                    "pool": {"processes": 2, "chunksize": chunksize}})
    killed = kill_a_computing_worker(spool, daemon, "victim")
    result = wait_for_result(spool, "victim", timeout=60)
    assert result["state"] == "done", (result, daemon.log())
    assert result["numbers_tested"] == count

    victim = job_events(spool, "victim")
    kinds = names(victim)
    assert kinds[0] == events.STARTED and kinds[-1] == events.DONE, kinds
    lost = [r for r in victim if r["event"] == events.WORKER_LOST]
    assert len(lost) == 1, victim
    assert f"pid {killed}" in lost[0]["cause"] and "SIGKILL" in lost[0]["cause"], lost
    assert lost[0]["attempt"] == 1
    (retried,) = [r for r in victim if r["event"] == events.CHUNK_RETRIED]
    assert retried["chunk"] == lost[0]["chunk"] and retried["attempt"] == 2
    assert kinds.index(events.WORKER_LOST) < kinds.index(events.CHUNK_RETRIED)
    assert victim[-1]["chunks"]["retried"] == 1 and victim[-1]["chunks"]["done"] == 12

    # what a person reads
    plain = run_cli(spool, "logs", "victim").stdout
    assert "victim  worker_lost  chunk=" in plain and 'cause="its worker (pid' in plain, plain

    metrics = scrape_metrics(port)
    assert metrics["runner_workers_lost_total"] == 1
    assert metrics["runner_chunks_lost_total"] == 1
    assert metrics["runner_chunks_retried_total"] == 1
    assert metrics['runner_worker_restarts_total{reason="lost"}'] == 1
    assert metrics['runner_chunks_done_total{task="primes"}'] == 12
    assert metrics["runner_chunk_seconds_count"] == 12
    assert metrics['runner_numbers_tested_total{task="primes"}'] == count
    assert metrics['runner_numbers_found_total{task="primes"}'] == result["primes_found"]
    assert metrics['runner_jobs{state="done"}'] == 1
    assert metrics['runner_jobs_finished_total{state="done",task="primes"}'] == 1
    assert daemon.stop() == 0


@pytest.mark.timeout(120)
def test_events_of_a_job_suspended_by_a_stop_and_resumed_by_the_next_start(spool, start_daemon):
    start, count, chunksize = 2 ** 2000, 21_600, 1_800  # 12 chunks of ~0.3 s CPU
    first = start_daemon()
    drop_job(spool, "long.yaml", {"id": "long", "range": {"start": start, "stop": start + count},
                                  "pool": {"processes": 2, "chunksize": chunksize}})
    wait_until(lambda: chunks_recorded(spool, "long") >= 1, 30, "a first chunk recorded")
    assert first.stop() == 0
    assert read_result(spool, "long") is None, "the job finished before the stop; make it longer"
    second = start_daemon()
    assert wait_for_result(spool, "long", timeout=60)["state"] == "done"

    long = job_events(spool, "long")
    assert names(long) == [events.STARTED, events.SUSPENDED, events.RESUMED, events.DONE], long
    started, suspended, resumed, done = long
    assert started["pid"] == suspended["pid"] == first.pid
    assert resumed["pid"] == done["pid"] == second.pid
    assert 1 <= suspended["chunks_done"] < 12
    assert resumed["chunks_done"] == suspended["chunks_done"]
    assert resumed["tested"] == suspended["tested"] == suspended["chunks_done"] * chunksize
    assert done["tested"] == count
    assert second.stop() == 0


@pytest.mark.timeout(60)
def test_events_of_a_chunk_past_its_timeout(spool, start_daemon):
    daemon = start_daemon()
    wait_ready(daemon)
    # one chunk of ~6 s CPU; the job allows 0.5 s
    drop_job(spool, "slow.yaml", {"id": "slow", "range": {"start": 2 ** 4000, "stop": 2 ** 4000 + 5000},
                                  "pool": {"processes": 1, "chunksize": 5000}, "timeout": 0.5})
    assert wait_for_result(spool, "slow", timeout=20)["state"] == "failed"
    slow = job_events(spool, "slow")
    assert names(slow) == [events.STARTED, events.CHUNK_TIMED_OUT, events.FAILED], slow
    assert slow[1]["chunk"] == 0 and "timeout of 0.5 s" in slow[1]["cause"]
    assert "chunk 0" in slow[2]["error"]
    assert daemon.stop() == 0
