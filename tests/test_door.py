"""Mistakes surface where they are made: no command but `runner init` makes a spool by
accident, and `runner submit` refuses a job the daemon would refuse, before it is queued,
naming the person's own file and line or the option they typed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli, runner_command, write_config
from runner import api
from runner.spool import Spool

COMMANDS = [("status",), ("status", "--json"), ("inspect", "x"), ("submit", "FILE"),
            ("cancel", "x"), ("retry", "x"), ("prune", "--older-than", "1d"), ("logs",),
            ("start", "--drain"), ("dashboard", "--port", "0")]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["empty", "missing"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_refuses_a_folder_that_is_not_a_spool(tmp_path, command, where):
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("7\n")
    folder = tmp_path / where
    if where == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("mine\n")
    before = listing(tmp_path)
    args = [str(numbers) if arg == "FILE" else arg for arg in command]
    proc = subprocess.run(runner_command(*args, "--root", str(folder)), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr == (f"runner: {folder} is not a spool (it has no config.yaml and jobs/ "
                           f"folder): make one with `runner init {folder}`, or give an existing "
                           "one with --root DIR (or $RUNNER_ROOT)\n")
    assert listing(tmp_path) == before, "nothing may be made there"


def test_the_api_refuses_a_folder_that_is_not_a_spool(tmp_path):
    with pytest.raises(api.NotASpoolError, match=r"is not a spool .*runner init .*api\.Spool\(PATH\)"):
        api.Spool(tmp_path)
    assert isinstance(api.NotASpoolError(tmp_path), api.RunnerError)
    assert list(tmp_path.iterdir()) == []
    made = run_cli_init(tmp_path / "new")
    assert made.returncode == 0, made.stderr
    assert api.Spool(tmp_path / "new").root == (tmp_path / "new").resolve()


def run_cli_init(folder: Path):
    return subprocess.run(runner_command("init", str(folder)), capture_output=True, text=True,
                          timeout=30)


def test_the_repository_is_a_spool():
    repository = Path(__file__).resolve().parents[1]
    assert Spool(repository).root == repository


def test_api_errors_are_typed_and_speak_the_apis_words(spool):
    with pytest.raises(api.NoSuchJobError, match=r"no job with id 'ghost' .*api\.status"):
        api.inspect(spool, "ghost")
    job = api.submit(spool, [7, 8], job_id="mine")
    with pytest.raises(api.JobIdTakenError) as taken:
        api.submit(spool, [7], job_id="mine")
    assert "job_id=" in str(taken.value) and "--id" not in str(taken.value)
    with pytest.raises(api.JobStateError, match="'mine' is queued, not finished"):
        list(api.results(spool, job))
    with pytest.raises(api.JobError, match=r"pool\.processes=64: pool\.processes is 64, over the "
                       r"limit max_processes = 2\. Fix: ask for at most 2"):
        api.submit(spool, [7], pool={"processes": 64})


def queued_state(spool) -> tuple:
    """What a refused submit must leave as it was: the queue, the stored inputs, the events."""
    events = spool.state / "events.jsonl"
    return (sorted(os.listdir(spool.jobs)), sorted(os.listdir(spool.inputs)),
            events.read_bytes() if events.exists() else b"")


BAD_SUBMISSIONS = {
    "typo": ("job.yaml", "range: {start: 0, stop: 100}\npool:\n  proceses: 2\n", (),
             "{file}, line 3, column 3, field pool.proceses: 'proceses' is not a pool setting; "
             "did you mean 'processes'? Fix: use one of: processes, chunksize, maxtasksperchild, "
             "start_method, ordered"),
    "1e6": ("job.yaml", "range:\n  start: 0\n  stop: 1e6\n", (),
            "{file}, line 3, column 9, field range.stop: range.stop is a string ('1e6'), but must "
            "be an integer written in digits. Fix: write 1000000"),
    "bad YAML": ("job.yaml", "numbers: [1, 2\n", (),
                 "{file}, line 2, column 1: is not valid YAML: did not find expected ',' or ']'. "
                 "Fix: check the indentation and punctuation at that spot"),
    "option over a limit": ("numbers.txt", "7\n11\n", ("--processes", "64"),
                            "--processes 64: pool.processes is 64, over the limit max_processes "
                            "= 2. Fix: ask for at most 2, or raise max_processes in config.yaml"),
    "option on a job file": ("job.yaml", "numbers: [7]\n", ("--timeout", "99999"),
                             "--timeout 99999: timeout is 99999.0, over the limit limits.timeout "
                             "= 3600. Fix: ask for at most 3600, or raise limits.timeout in "
                             "config.yaml"),
    "negative number": ("numbers.txt", "7\n\n# fine\n-5\n", (),
                        "{file}, line 4: '-5' is negative. Fix: write one integer from 0 up a "
                        "line, in plain decimal digits (blank lines and # comments are allowed)"),
    "too many numbers": ("numbers.txt", "1\n2\n3\n", (),
                         "{file}, field numbers_file: numbers_file (its count of lines) is 3, "
                         "over the limit limits.numbers = 2. Fix: ask for at most 2, or raise "
                         "limits.numbers in config.yaml"),
    "missing file": (None, None, (), "{file}: cannot read it: No such file or directory"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(BAD_SUBMISSIONS))
def test_submit_refuses_a_bad_job_before_it_is_queued(spool, tmp_path, monkeypatch, case):
    name, text, options, expected = BAD_SUBMISSIONS[case]
    write_config(spool.root, limits={"numbers": 2})
    path = tmp_path / (name or "nowhere.txt")
    if text is not None:
        path.write_text(text)
    before = queued_state(spool)
    monkeypatch.chdir(tmp_path)  # the person's own words: the path as they typed it
    proc = run_cli(spool, "submit", path.name, *options)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr == f"runner: {expected.format(file=path.name)}\n"
    assert "/.state/" not in proc.stderr
    assert queued_state(spool) == before, "nothing may be queued"
