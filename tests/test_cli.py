"""End-to-end through the real `runner` command: init, submit, status, inspect, cancel,
start --drain, --version and --help, with a real daemon where one is needed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import runner
from conftest import (BOOK_NUMBERS, BOOK_PRIMES, drop_job, read_result, result_primes, run_cli,
                      runner_command, sieve, wait_for_result, wait_ready, wait_until,
                      write_numbers)
from runner import api
from runner.config import Config, JobDefaults, Limits

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


# -- helpers -----------------------------------------------------------------------


PRIMES_TO_1000 = sieve(1001)  # 168 of them


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def submit(spool, *args: str) -> str:
    """`runner submit ARGS`; returns the id it printed."""
    out = ok(run_cli(spool, "submit", *args)).stdout
    assert out.endswith("\n") and len(out.splitlines()) == 1, repr(out)
    return out.strip()


def status_json(spool) -> list[dict]:
    return json.loads(ok(run_cli(spool, "status", "--json")).stdout)["jobs"]


def inspect_json(spool, job_id: str) -> dict:
    return json.loads(ok(run_cli(spool, "inspect", job_id, "--json")).stdout)


def run_drain(root: Path, timeout: float = 60) -> tuple[int, float, str]:
    """`runner start --drain` in its own process group; (exit code, seconds, log)."""
    began = time.monotonic()
    proc = subprocess.Popen(runner_command("start", "--drain", "--root", str(root)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
    return proc.returncode, time.monotonic() - began, out


@pytest.fixture
def numbers_txt(tmp_path: Path) -> Path:
    return write_numbers(tmp_path / "numbers.txt", range(1, 1001))


# -- --version, --help, init -------------------------------------------------------------


def test_version_and_help():
    version = subprocess.run(runner_command("--version"), capture_output=True, text=True, timeout=30)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"runner {runner.__version__}"

    helped = subprocess.run(runner_command("--help"), capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0, helped.stderr
    for command in COMMANDS:
        assert re.search(rf"^\W*{command}\b", helped.stdout, re.M), (command, helped.stdout)
    for option in ("--install-completion", "--show-completion", "--version"):
        assert option in helped.stdout, option

    sub = subprocess.run(runner_command("submit", "--help"), capture_output=True, text=True, timeout=30)
    assert sub.returncode == 0, sub.stderr
    for option in ("--id", "--processes", "--chunksize", "--maxtasksperchild", "--start-method",
                   "--unordered", "--timeout", "--priority", "--retries", "--wait", "--json",
                   "--root"):
        assert option in sub.stdout, option
    for code, meaning in (("0", "done"), ("1", "failed"), ("3", "cancelled")):
        assert re.search(rf"{code} if it (is|was) {meaning}|{code} if it {meaning}", sub.stdout), (
            code, sub.stdout)


COMMANDS = ("init", "dashboard", "start", "submit", "status", "inspect", "cancel", "retry",
            "prune", "logs")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_says_what_it_does_with_an_example(command):
    helped = subprocess.run(runner_command(command, "--help"), capture_output=True, text=True,
                            timeout=30, env={**os.environ, "COLUMNS": "200"})
    assert helped.returncode == 0, helped.stderr
    example = re.search(rf"Example: runner {command}\b", helped.stdout)
    assert example, helped.stdout


def test_shell_completion_script_is_shown():
    # typer finds the shell among the command's parents (shellingham): run it from bash,
    # as a person would, not from whatever started pytest (in the background: no shell)
    shown = subprocess.run(["bash", "-c", '"$@"; exit $?', "bash",
                            *runner_command("--show-completion")],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert "_runner_completion" in shown.stdout and "complete" in shown.stdout, shown.stdout


@pytest.mark.skipif(shutil.which("runner") is None, reason="the `runner` script is not on PATH")
def test_installed_runner_script_runs():
    proc = subprocess.run(["runner", "--version"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"runner {runner.__version__}"


def test_init_makes_a_spool_with_every_setting_commented(tmp_path: Path):
    root = tmp_path / "new" / "spool"
    proc = subprocess.run(runner_command("init", str(root)), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert (root / "jobs").is_dir() and (root / "outbox").is_dir()
    text = (root / "config.yaml").read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and all(line.lstrip().startswith("#") for line in lines), text
    assert yaml.safe_load(text) is None  # nothing set: every default applies
    for name in Config.model_fields:
        if name not in ("defaults", "limits"):
            assert re.search(rf"^# {name}: ", text, re.M), name
    assert re.search(r"^# defaults:", text, re.M) and re.search(r"^# limits:", text, re.M)
    for name in (*JobDefaults.model_fields, *Limits.model_fields):
        assert re.search(rf"^#\s+{name}: ", text, re.M), name

    # init again keeps an edited config
    (root / "config.yaml").write_text("max_processes: 1\n")
    again = subprocess.run(runner_command("init", str(root)), capture_output=True, text=True, timeout=30)
    assert again.returncode == 0, again.stderr
    assert (root / "config.yaml").read_text() == "max_processes: 1\n"

    # the template is a valid config: a daemon runs on the fresh spool
    (root / "config.yaml").write_text(text)
    code, _, log = run_drain(root, timeout=30)
    assert code == 0, log


# -- submit -----------------------------------------------------------------------------


def test_submit_numbers_file_with_a_running_daemon(spool, start_daemon, numbers_txt):
    daemon = start_daemon()
    job_id = submit(spool, str(numbers_txt))
    assert job_id == "numbers"
    result = wait_for_result(spool, job_id)
    assert result["state"] == "done", (result, daemon.log())
    assert result["numbers_tested"] == 1000
    assert result["primes_found"] == 168
    assert result["primes_file"] == "numbers.primes"
    assert result_primes(spool, result) == PRIMES_TO_1000

    # the same file again, no --id: a new id, printed as JSON
    out = ok(run_cli(spool, "submit", str(numbers_txt), "--json")).stdout
    assert json.loads(out) == {"id": "numbers-2"}
    second = wait_for_result(spool, "numbers-2")
    assert second["state"] == "done" and result_primes(spool, second) == PRIMES_TO_1000
    assert read_result(spool, "numbers")["id"] == "numbers"  # the first is untouched
    assert daemon.stop() == 0


def test_submit_with_a_taken_id_fails_clearly(spool, numbers_txt):
    assert submit(spool, str(numbers_txt), "--id", "mine") == "mine"
    assert submit(spool, str(numbers_txt)) == "numbers"
    queued = sorted(p.name for p in spool.jobs.iterdir() if not p.name.startswith("."))

    for taken in ("mine", "numbers"):
        proc = run_cli(spool, "submit", str(numbers_txt), "--id", taken)
        assert proc.returncode != 0
        assert proc.stdout == ""
        assert f"'{taken}'" in proc.stderr and "exists already" in proc.stderr, proc.stderr
    # a YAML job file too
    job = numbers_txt.parent / "job.yaml"
    job.write_text("numbers: [2, 3]\n")
    proc = run_cli(spool, "submit", str(job), "--id", "mine")
    assert proc.returncode != 0 and "'mine'" in proc.stderr and "exists already" in proc.stderr
    assert sorted(p.name for p in spool.jobs.iterdir() if not p.name.startswith(".")) == queued


def test_submit_options_reach_the_result_settings(spool, start_daemon, numbers_txt):
    daemon = start_daemon()
    job_id = submit(spool, str(numbers_txt), "--id", "opts", "--processes", "1",
                    "--chunksize", "250", "--maxtasksperchild", "3", "--start-method", "spawn",
                    "--unordered", "--timeout", "30")
    assert job_id == "opts"
    result = wait_for_result(spool, "opts", timeout=60)
    assert result["state"] == "done", (result, daemon.log())
    assert result["settings"] == {"processes": 1, "chunksize": 250, "maxtasksperchild": 3,
                                  "start_method": "spawn", "ordered": False, "timeout": 30.0}
    assert result["chunks"]["done"] == 4
    assert sorted(result_primes(spool, result)) == PRIMES_TO_1000
    assert daemon.stop() == 0


def test_submit_yaml_job_files(spool, start_daemon, tmp_path):
    daemon = start_daemon()
    job = tmp_path / "book.yaml"
    job.write_text("# the book's case study\nnumbers: [" + ", ".join(map(str, BOOK_NUMBERS)) +
                   "]\npool: {chunksize: 5}\n")
    assert submit(spool, str(job)) == "book"
    assert submit(spool, str(job)) == "book-2"  # the same file again: a new id
    assert submit(spool, str(job), "--processes", "1", "--chunksize", "2", "--timeout", "20") == "book-3"
    named = tmp_path / "other.yaml"
    named.write_text("id: named\nrange: {start: 0, stop: 1001}\n")
    assert submit(spool, str(named)) == "named"
    assert submit(spool, str(named), "--id", "renamed") == "renamed"

    for job_id in ("book", "book-2", "book-3"):
        result = wait_for_result(spool, job_id)
        assert result["state"] == "done", (result, daemon.log())
        assert result["id"] == job_id
        assert result_primes(spool, result) == BOOK_PRIMES
    assert wait_for_result(spool, "book")["settings"]["chunksize"] == 5
    overridden = wait_for_result(spool, "book-3")["settings"]
    assert (overridden["processes"], overridden["chunksize"], overridden["timeout"]) == (1, 2, 20.0)
    for job_id in ("named", "renamed"):
        result = wait_for_result(spool, job_id)
        assert result["state"] == "done" and result_primes(spool, result) == PRIMES_TO_1000
    outbox = {p.name for p in spool.outbox.glob("*.yaml")}
    assert outbox == {"book.yaml", "book-2.yaml", "book-3.yaml", "named.yaml", "renamed.yaml"}
    assert daemon.stop() == 0


def test_submit_refuses_a_numbers_file_with_a_bad_line_naming_it(spool, start_daemon, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n2\n# a comment\n\nabc\n5\n")
    refused = run_cli(spool, "submit", str(bad))
    assert refused.returncode == 2, refused
    assert refused.stderr == (f"runner: {bad}, line 5: 'abc' is not a plain decimal integer. "
                              "Fix: write one integer from 0 up a line, in plain decimal digits "
                              "(blank lines and # comments are allowed)\n")
    assert list(spool.jobs.glob("*.yaml")) == [] and os.listdir(spool.inputs) == []
    # the same file named by a job dropped into jobs/: the daemon finds the line when it runs
    (spool.root / "bad.txt").write_text(bad.read_text())
    drop_job(spool, "dropped.yaml", {"numbers_file": "bad.txt"})
    daemon = start_daemon()
    result = wait_for_result(spool, "dropped")
    assert result["state"] == "failed", result
    error = result["error"]
    assert error["line"] == 5 and "'abc'" in error["message"], error
    assert error.get("fix"), error
    assert daemon.alive(), daemon.log()
    assert daemon.stop() == 0


# -- status, inspect --------------------------------------------------------------------


def test_status_and_inspect_agree_with_outbox(spool, start_daemon, numbers_txt, tmp_path):
    # queued, with no daemon yet
    assert submit(spool, str(numbers_txt)) == "numbers"
    drop_job(spool, "bad.yaml", "numbers: [1, 2\n")  # dropped: only the daemon checks it
    listed = {job["id"]: job for job in status_json(spool)}
    assert {k: v["state"] for k, v in listed.items()} == {"numbers": "queued", "bad": "queued"}
    queued = inspect_json(spool, "numbers")
    assert queued["id"] == "numbers" and queued["state"] == "queued"
    assert "result" not in queued

    daemon = start_daemon()
    wait_for_result(spool, "numbers")
    wait_for_result(spool, "bad")
    jobs = status_json(spool)
    assert isinstance(jobs, list)
    assert all(isinstance(job, dict) and {"id", "state"} <= job.keys() for job in jobs)
    by_id = {job["id"]: job for job in jobs}
    assert len(by_id) == len(jobs) == 2
    outbox = {p.stem: yaml.safe_load(p.read_text()) for p in spool.outbox.glob("*.yaml")}
    assert set(outbox) == set(by_id)
    for job_id, result in outbox.items():
        assert by_id[job_id]["state"] == result["state"]
        details = inspect_json(spool, job_id)
        assert details["id"] == job_id and details["state"] == result["state"]
        assert details["result"] == result
    assert by_id["numbers"]["state"] == "done" and by_id["numbers"]["found"] == 168
    assert (by_id["numbers"]["task"], by_id["numbers"]["primes"]) == ("primes", 168)
    assert by_id["numbers"]["tested"] == 1000
    assert by_id["bad"]["state"] == "failed"

    plain = ok(run_cli(spool, "status")).stdout.splitlines()
    assert plain[0].split("\t") == ["ID", "STATE", "TASK", "PRIORITY", "PROGRESS", "FOUND",
                                     "RATE", "ETA", "ELAPSED"]
    rows = {line.split("\t")[0]: line.split("\t") for line in plain[1:]}
    assert set(rows) == {"numbers", "bad"}
    assert rows["numbers"][1:8] == ["done", "primes", "0", "1000/1000 (100%)", "168", "-", "-"]
    assert rows["bad"][1] == "failed"

    shown = ok(run_cli(spool, "inspect", "numbers")).stdout
    assert yaml.safe_load(shown)["result"] == outbox["numbers"]

    for command in ("inspect", "cancel"):
        proc = run_cli(spool, command, "no-such-job")
        assert proc.returncode != 0
        assert "no job with id 'no-such-job'" in proc.stderr, proc.stderr
    assert daemon.stop() == 0


# -- cancel -----------------------------------------------------------------------------


def test_cancel_a_queued_job_without_a_daemon(spool, numbers_txt):
    job_id = submit(spool, str(numbers_txt))
    proc = ok(run_cli(spool, "cancel", job_id))
    assert proc.stdout.strip() == f"{job_id}: cancelled"
    result = read_result(spool, job_id)  # there at once
    assert result is not None and result["state"] == "cancelled"
    assert result["numbers_tested"] == 0
    assert [job["state"] for job in status_json(spool)] == ["cancelled"]
    assert inspect_json(spool, job_id)["result"] == result

    again = run_cli(spool, "cancel", job_id)
    assert again.returncode != 0 and "already cancelled" in again.stderr, again.stderr

    # a daemon does not run it afterwards
    code, _, log = run_drain(spool.root, timeout=30)
    assert code == 0, log
    assert read_result(spool, job_id) == result
    assert not (spool.outbox / f"{job_id}.primes").exists()


def test_cancel_a_running_job_frees_the_workers(spool, start_daemon, numbers_txt, tmp_path):
    daemon = start_daemon()
    wait_ready(daemon)
    start = 2 ** 4000  # 8 chunks of ~3 s of CPU each: the job would run for ~12 s
    long_job = tmp_path / "long.yaml"
    long_job.write_text(f"id: long\nrange: {{start: {start}, stop: {start + 20_000}}}\n"
                        "pool: {processes: 2, chunksize: 2500}\n")
    assert submit(spool, str(long_job)) == "long"
    wait_until(lambda: len(daemon.busy_workers()) == 2, 30, "both workers computing the long job")
    running = {job["id"]: job for job in status_json(spool)}["long"]
    assert running["state"] == "running" and running["total"] == 20_000
    assert inspect_json(spool, "long")["state"] == "running"

    began = time.monotonic()
    proc = ok(run_cli(spool, "cancel", "long"))
    took = time.monotonic() - began
    assert proc.stdout.strip() == "long: cancelled"
    result = read_result(spool, "long")
    assert result is not None and result["state"] == "cancelled", result
    assert took < 2.0, f"cancel took {took:.2f} s"
    assert result["numbers_tested"] < 20_000

    # the workers stop computing the cancelled chunks within about a second
    wait_until(lambda: not daemon.busy_workers(), 1.5, "the workers to be free")
    began = time.monotonic()
    assert submit(spool, str(numbers_txt)) == "numbers"
    after = wait_for_result(spool, "numbers", timeout=30)
    took = time.monotonic() - began
    assert after["state"] == "done" and result_primes(spool, after) == PRIMES_TO_1000
    assert took < 3.0, f"the next job took {took:.2f} s after the cancel"
    assert {job["id"]: job["state"] for job in status_json(spool)} == {"long": "cancelled",
                                                                        "numbers": "done"}
    assert daemon.alive(), daemon.log()
    assert daemon.stop() == 0


# -- start --drain ----------------------------------------------------------------------


def test_start_drain_runs_every_job_then_exits(spool, numbers_txt, tmp_path):
    ids = [submit(spool, str(numbers_txt)) for _ in range(3)]
    assert ids == ["numbers", "numbers-2", "numbers-3"]
    book = tmp_path / "book.yaml"
    book.write_text("numbers: [" + ", ".join(map(str, BOOK_NUMBERS)) + "]\npool: {chunksize: 3}\n")
    ids.append(submit(spool, str(book)))
    ranged = tmp_path / "range.yaml"
    ranged.write_text("range: {start: 0, stop: 100000}\npool: {chunksize: 10000, ordered: false}\n")
    ids.append(submit(spool, str(ranged)))
    ids.append(submit(spool, str(numbers_txt), "--id", "spawned", "--start-method", "spawn",
                      "--processes", "1", "--chunksize", "400"))

    code, took, log = run_drain(spool.root, timeout=90)
    assert code == 0, log
    for job_id in ids:
        result = read_result(spool, job_id)
        assert result is not None, (job_id, log)
        assert result["state"] == "done", (result, log)
    for job_id in ("numbers", "numbers-2", "numbers-3", "spawned"):
        assert result_primes(spool, read_result(spool, job_id)) == PRIMES_TO_1000
    assert result_primes(spool, read_result(spool, "book")) == BOOK_PRIMES
    assert sorted(result_primes(spool, read_result(spool, "range"))) == sieve(100_000)
    assert not list(spool.jobs.glob("*.yaml"))
    assert {job["state"] for job in status_json(spool)} == {"done"}

    code, took, log = run_drain(spool.root, timeout=30)
    assert code == 0, log
    assert took < 5, f"drain of an empty queue took {took:.1f} s"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", [("--help",), ("status",), ("status", "--json")])
def test_help_and_status_start_without_what_they_do_not_use(spool, command):
    """Start-up: `runner --help` and `runner status` (of a queued job) load none of PyYAML,
    pydantic, numpy, multiprocessing, the task registry and the daemon's job spec
    (bench/startup.py times them)."""
    api.submit(spool, [7])
    script = ("import sys\nfrom runner.cli import app\n"
              "try:\n    app()\nfinally:\n"
              "    print(*[m for m in ('yaml', 'pydantic', 'numpy', 'multiprocessing', "
              "'runner.registry', 'runner.spec') if m in sys.modules], file=sys.stderr)\n")
    root = () if command == ("--help",) else ("--root", str(spool.root))
    proc = subprocess.run([sys.executable, "-c", script, *command, *root],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-1] == "", proc.stderr


def test_the_command_line_turns_the_collector_back_on_once_loaded():
    """runner.cli keeps the garbage collector off while its modules load, then freezes
    what they made and turns it on again (bench/startup.py times the start-up)."""
    proc = subprocess.run([sys.executable, "-c", "import gc, runner.cli\n"
                           "print(gc.isenabled(), gc.get_freeze_count() > 10_000)"],
                          capture_output=True, text=True, timeout=30)
    assert proc.stdout.split() == ["True", "True"], proc.stderr
