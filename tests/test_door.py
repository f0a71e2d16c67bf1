"""Mistakes surface where they are made: no command but `runner init` makes a spool by
accident, and `runner submit` refuses a job the daemon would refuse, before it is queued,
naming the person's own file and line or the option they typed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import drop_job, read_result, run_cli, runner_command, write_config
from runner import api
from runner.spool import Spool

pytestmark = pytest.mark.e2e  # it runs the CLI (see conftest.py)

COMMANDS = [("status",), ("status", "--json"), ("inspect", "x"), ("submit", "FILE"),
            ("cancel", "x"), ("retry", "x"), ("prune", "--older-than", "1d"), ("logs",),
            ("start", "--drain"), ("dashboard", "--port", "0")]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# a folder that is not a spool: what is there, and why the message says it is none
NOT_SPOOLS = {
    "empty": ({"notes.txt": "mine\n"}, "it has no config.yaml and no jobs/ folder"),
    "missing": (None, "there is no such folder"),
    "config only": ({"config.yaml": "{}\n"}, "it has no jobs/ folder"),
    "jobs only": ({"jobs/a.yaml": "numbers: [7]\n"}, "it has no config.yaml"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", sorted(NOT_SPOOLS))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_refuses_a_folder_that_is_not_a_spool(tmp_path, command, where):
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("7\n")
    folder = tmp_path / where.replace(" ", "-")
    files, why = NOT_SPOOLS[where]
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    before = listing(tmp_path)
    args = [str(numbers) if arg == "FILE" else arg for arg in command]
    proc = subprocess.run(runner_command(*args, "--root", str(folder)), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr == (f"runner: {folder} is not a spool ({why}): make one with `runner "
                           f"init {folder}`, or give an existing one with --root DIR (or "
                           "$RUNNER_ROOT)\n")
    assert listing(tmp_path) == before, "nothing may be made there"


def test_a_command_in_a_folder_that_is_not_a_spool_says_so_without_root(tmp_path):
    """The spool is the current folder when neither --root nor $RUNNER_ROOT names one."""
    env = {key: value for key, value in os.environ.items() if key != "RUNNER_ROOT"}
    proc = subprocess.run(runner_command("status"), capture_output=True, text=True, timeout=30,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 2 and proc.stderr.startswith(
        f"runner: {tmp_path.resolve()} is not a spool (it has no config.yaml and no jobs/ folder)")
    proc = subprocess.run(runner_command("status"), capture_output=True, text=True, timeout=30,
                          cwd=tmp_path, env={**env, "RUNNER_ROOT": str(tmp_path / "gone")})
    assert proc.returncode == 2 and proc.stderr.startswith(
        f"runner: {tmp_path / 'gone'} is not a spool (there is no such folder)")
    assert list(tmp_path.iterdir()) == []


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
    "option on a job file": ("job.yaml", "numbers: [7]\n", ("--timeout", "1e5"),
                             "--timeout 1e5: timeout is 100000.0, over the limit limits.timeout "
                             "= 3600. Fix: ask for at most 3600, or raise limits.timeout in "
                             "config.yaml"),
    "negative in a list": ("job.yaml", "numbers:\n  - 7\n  - -3\n", (),
                           "{file}, line 3, column 5, field numbers[1]: -3 is negative. Fix: "
                           "give integers from 0 up"),
    "stop below start": ("job.yaml", "# mine\nrange: {start: 10, stop: 5}\n", (),
                         "{file}, line 2, column 8, field range: range stop 5 is below its start "
                         "10. Fix: ranges are half-open [start, stop), like Python's range"),
    "1e6 in a numbers file": ("numbers.txt", "7\n1e6\n", (),
                              "{file}, line 2: '1e6' is not a plain decimal integer. Fix: write "
                              "1000000"),
    "binary file": ("numbers.txt", "7\n\x00\x01\x02\n", (),
                    "{file}, line 2: holds bytes that are not text: is it a numbers file? Fix: "
                    "give a text file of integers, one a line"),
    "bad id": ("numbers.txt", "7\n", ("--id", "my job"),
               "--id 'my job': an id may only use letters, digits, '.', '_' and '-' (at most "
               "64), and not start with '.'; pick another --id, or leave it out to get a free "
               "one"),
    "negative number": ("numbers.txt", "7\n\n# fine\n-5\n", (),
                        "{file}, line 4: '-5' is negative. Fix: write one integer from 0 up a "
                        "line, in plain decimal digits (blank lines and # comments are allowed)"),
    "too many numbers": ("numbers.txt", "1\n2\n3\n", (),
                         "{file}: its count of numbers is 3, over the limit limits.numbers = 2. Fix: ask for at most 2, or raise "
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


@pytest.mark.timeout(60)
def test_submit_reads_the_lines_of_a_job_files_numbers_file(spool, tmp_path, monkeypatch):
    (spool.root / "data").mkdir()
    (spool.root / "data" / "n.txt").write_text("7\n\n# fine\nabc\n")
    job = tmp_path / "job.yaml"
    job.write_text("# mine\nnumbers_file: data/n.txt\n")
    before = queued_state(spool)
    monkeypatch.chdir(tmp_path)
    proc = run_cli(spool, "submit", "job.yaml")
    assert (proc.returncode, proc.stderr) == (2, (
        "runner: data/n.txt, line 4: 'abc' is not a plain decimal integer. Fix: write one "
        "integer from 0 up a line, in plain decimal digits (blank lines and # comments are "
        "allowed)\n"))
    job.write_text("# mine\nnumbers_file: data/gone.txt\n")
    proc = run_cli(spool, "submit", "job.yaml")
    assert (proc.returncode, proc.stderr) == (2, (
        "runner: job.yaml, line 2, column 15, field numbers_file: 'data/gone.txt' cannot be "
        "read: No such file or directory. Fix: check the file's name; paths are relative to "
        f"the spool's root, {spool.root}\n"))
    assert queued_state(spool) == before, "nothing may be queued"


@pytest.mark.timeout(90)
def test_the_daemon_refuses_dropped_files_with_the_same_words_naming_them_as_dropped(spool):
    """One code path: the job files submit refuses fail in the daemon too, their result
    saying the same, with the file named as it was dropped into jobs/."""
    write_config(spool.root, limits={"numbers": 2})
    cases = {case: BAD_SUBMISSIONS[case] for case in ("typo", "1e6", "bad YAML",
                                                        "negative in a list", "stop below start")}
    for case, (_, text, _, _) in cases.items():
        drop_job(spool, f"dropped-{case.replace(' ', '-')}.yaml", text)
    proc = run_cli(spool, "start", "--drain")
    assert proc.returncode == 0, proc.stderr
    for case, (_, _, _, expected) in cases.items():
        name = f"dropped-{case.replace(' ', '-')}"
        result = read_result(spool, name)
        assert result["state"] == "failed", case
        assert result["error"]["message"] == expected.format(file=f"jobs/{name}.yaml"), case


API_MISTAKES = {
    "a float": (dict(numbers=[7, 2.5]), api.JobError,
                "numbers[1]: 2.5 is a float, not an integer. Fix: pass an int"),
    "a whole float": (dict(numbers=[7, 1e6]), api.JobError,
                      "numbers[1]: 1000000.0 is a float, not an integer. Fix: pass 1000000, an int"),
    "text": (dict(numbers=iter([7, "x"])), api.JobError,
             "numbers[1]: 'x' is a str, not an integer. Fix: pass an int"),
    "negative": (dict(numbers=[7, 8, -5]), api.JobError,
                 "numbers[2]: -5 is negative. Fix: give integers from 0 up"),
    "range of text": (dict(range=(0, "1e6")), api.JobError,
                      "range[1]: '1e6' is a str, not an integer. Fix: pass 1000000, an int"),
    "range not a pair": (dict(range=10), api.JobError,
                         "range: 10 is not a pair (start, stop). Fix: pass range=(start, stop), "
                         "e.g. range=(0, 10**6)"),
    "over a limit": (dict(numbers=[7], pool={"processes": 64}), api.JobError,
                     "pool.processes=64: pool.processes is 64, over the limit max_processes = 2. "
                     "Fix: ask for at most 2, or raise max_processes in config.yaml"),
    "too many": (dict(numbers=range(5)), api.JobError,
                 "numbers: its count of numbers is 5, over the limit limits.numbers = 4. Fix: "
                 "ask for at most 4, or raise limits.numbers in config.yaml"),
    "bad id": (dict(numbers=[7], job_id="my job"), api.BadJobIdError,
               "job_id='my job': an id may only use letters, digits, '.', '_' and '-' (at most "
               "64), and not start with '.'; pass another job_id=, or none to get a free one"),
}


@pytest.mark.parametrize("case", sorted(API_MISTAKES))
def test_api_submit_names_what_was_given_in_the_apis_words(spool, case):
    given, error, message = API_MISTAKES[case]
    write_config(spool.root, limits={"numbers": 4})
    before = queued_state(spool)
    with pytest.raises(error) as raised:
        api.submit(spool, **given)
    assert str(raised.value) == message
    assert queued_state(spool) == before, "nothing may be queued"
    assert list(spool.tmp.iterdir()) == [], "no copy of the numbers is left behind"


def test_api_submit_job_file_takes_a_path_as_text(spool, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("numbers: [7]\n")
    assert api.submit_job_file(spool, str(job)) == "job"


# -- a numbers file under a config.yaml that sets nothing: checked without pydantic -----

NUMBERS_FILE_REFUSALS = sorted(case for case, (name, text, options, _) in BAD_SUBMISSIONS.items()
                               if name == "numbers.txt" and text is not None and not options
                               and case != "too many numbers")


@pytest.fixture
def default_spool(tmp_path) -> Spool:
    """A spool as `runner init` makes it: its config.yaml sets nothing (all comments)."""
    return Spool.create(tmp_path / "spool")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", NUMBERS_FILE_REFUSALS)
def test_submit_under_default_settings_refuses_bad_lines_in_the_same_words(
        default_spool, tmp_path, monkeypatch, case):
    name, text, _, expected = BAD_SUBMISSIONS[case]
    path = tmp_path / name
    path.write_text(text)
    before = queued_state(default_spool)
    monkeypatch.chdir(tmp_path)
    proc = run_cli(default_spool, "submit", path.name)
    assert (proc.returncode, proc.stderr) == (2, f"runner: {expected.format(file=path.name)}\n")
    assert queued_state(default_spool) == before, "nothing may be queued"


@pytest.mark.parametrize("big, what", [
    (10**1234, "has 1235 digits"),
    (2**4096, "has 4097 bits"),  # as many digits as 2**4096 - 1, the largest allowed
], ids=["digits", "bits"])
def test_submit_under_default_settings_refuses_a_number_over_the_default_bit_limit(
        default_spool, tmp_path, big, what):
    path = tmp_path / "n.txt"
    path.write_text(f"7\n{big}\n")
    before = queued_state(default_spool)
    with pytest.raises(api.JobError, match=rf"n\.txt, line 2: .* {what}, over limits"
                       r"\.number_bits = 4096"):
        api.submit_numbers(default_spool, open(path, "rb"), str(path))
    assert queued_state(default_spool) == before, "nothing may be queued"


@pytest.mark.parametrize("text", ["17977\n", "7\n\n# a comment\n 11 # eleven\n13",
                                  f"{2**4096 - 1}\n3\n", "0\n" * 5000])
def test_a_job_submitted_under_default_settings_passes_the_daemons_check(default_spool,
                                                                         tmp_path, text):
    """What lets submit leave the whole check to the daemon when nothing but the numbers
    can be wrong: the job it queues passes that check (jobfile.load_job), as it would
    have at the door."""
    from runner.config import load_config
    from runner.jobfile import load_job

    path = tmp_path / "n.txt"
    path.write_text(text)
    job_id = api.submit_numbers(default_spool, open(path, "rb"), str(path))
    queued = default_spool.jobs / f"{job_id}.yaml"
    job = load_job(queued, default_spool.root, load_config(default_spool.root))
    assert (job.id, job.task, job.total) == (job_id, "primes", sum(
        1 for line in text.splitlines() if line.split("#")[0].strip()))


OPTION_VALUES = {  # in and out of the default limits, of the types a job file must give
    "pool.processes": st.sampled_from([1, 2, 3, 64, 0, True, 1.0, None]),
    "pool.chunksize": st.sampled_from([1, 20000, 1 << 22, (1 << 22) + 1, 0, -5, "9"]),
    "pool.maxtasksperchild": st.sampled_from([1, 10**9, 0, 2.5]),
    "pool.start_method": st.sampled_from(["fork", "spawn", "forkserver", "Fork", 1]),
    "pool.ordered": st.sampled_from([True, False, 0, "no"]),
    "priority": st.sampled_from([0, -3, 10**6, -10**6, 10**6 + 1, False]),
    "timeout": st.sampled_from([0.001, 1, 3600, 3600.5, 0, -1.0, float("nan"), float("inf"), True]),
    "retries": st.sampled_from([0, 100, 101, -1, 1.0]),
}


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.dictionaries(st.sampled_from(sorted(OPTION_VALUES)), st.just(None), max_size=4)
       .flatmap(lambda keys: st.fixed_dictionaries({key: OPTION_VALUES[key] for key in keys})))
def test_whatever_options_submit_leaves_to_the_daemon_the_daemon_takes(default_spool, tmp_path,
                                                                       chosen):
    """Options within the default limits are not checked at the door
    (submission._within_default_limits): a job submit queues, checked or not, passes the
    daemon's check, and one it refuses leaves nothing queued."""
    from runner import submission
    from runner.config import load_config
    from runner.jobfile import load_job

    pool = {key.removeprefix("pool."): value for key, value in chosen.items() if "." in key}
    fields = {key: value for key, value in chosen.items() if "." not in key}
    path = tmp_path / "n.txt"
    path.write_text("17977\n")
    before = queued_state(default_spool)
    try:
        job_id = api.submit_numbers(default_spool, open(path, "rb"), str(path), pool=pool,
                                    fields=fields)
    except api.JobError:
        assert not submission._within_default_limits(pool, fields), chosen
        assert queued_state(default_spool) == before, "nothing may be queued"
        return
    queued = default_spool.jobs / f"{job_id}.yaml"
    load_job(queued, default_spool.root, load_config(default_spool.root))
    queued.unlink()


def test_options_a_person_types_are_within_the_default_limits():
    from runner.submission import _within_default_limits

    assert _within_default_limits({"chunksize": 20000, "ordered": False, "processes": 1},
                                  {"priority": 3, "timeout": 60.0, "retries": 2, "task": "factor"})
    assert not _within_default_limits({}, {"params": {"cap": 3}})
    assert not _within_default_limits({}, {"on_error": "record"})


def test_submit_makes_its_copy_of_the_numbers_durable_before_it_queues_the_job(
        default_spool, tmp_path, monkeypatch):
    """The job file names the copy in inputs/: a power cut must not leave the one
    without the other. Every fsync still runs; the test notes what each one synced."""
    synced = []
    fsync = os.fsync

    def noting(fd: int) -> None:
        fsync(fd)
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))

    monkeypatch.setattr(os, "fsync", noting)
    path = tmp_path / "n.txt"
    path.write_text("7\n")
    job_id = api.submit_numbers(default_spool, open(path, "rb"), str(path))
    inputs, jobs = str(default_spool.inputs), str(default_spool.jobs)
    assert inputs in synced and jobs in synced, synced
    assert synced.index(inputs) < synced.index(jobs), "inputs/ made durable after the job"
    assert (default_spool.jobs / f"{job_id}.yaml").exists()


@pytest.mark.parametrize("source", ["file", "file read in part", "pipe", "bytes"])
def test_submit_copies_what_is_left_of_any_stream(default_spool, tmp_path, monkeypatch,
                                                  source):
    """A regular file is copied by the kernel (a third of the time) from where its reader
    stands (its buffered bytes too); a pipe or an in-memory stream, through Python."""
    sent = []
    sendfile = os.sendfile
    monkeypatch.setattr(os, "sendfile", lambda *args: sent.append(sendfile(*args)) or sent[-1])
    text = b"".join(b"%d\n" % n for n in range(300_000, 500_000))  # 1.4 MB: several blocks
    path = tmp_path / "n.txt"
    path.write_bytes(b"12\n" + text)
    if source == "bytes":
        stream = io.BytesIO(text)
    elif source == "pipe":
        reader, writer = os.pipe()
        threading.Thread(target=lambda: (os.write(writer, text), os.close(writer))).start()
        stream = open(reader, "rb")
    else:
        stream = open(path, "rb")
        stream.readline() if source == "file read in part" else stream.seek(3)
    with stream:
        job_id = api.submit_numbers(default_spool, stream, str(path))
        assert stream.read() == b""
    job = (default_spool.jobs / f"{job_id}.yaml").read_text()
    stored = job.split('numbers_file: "')[1].split('"')[0]
    assert (default_spool.root / stored).read_bytes() == text
    assert sum(sent) == (len(text) if source.startswith("file") else 0)


# a valid value, not the default, of each setting that no job's check reads
DAEMON_ONLY_VALUES = {"max_running_jobs": 1, "chunks_ahead_per_process": 5,
                      "retry_backoff_seconds": 2.0, "retry_backoff_max_seconds": 3.0,
                      "retention_days": 7, "rescan_seconds": 0.5, "pool_idle_seconds": 1,
                      "fsync_seconds": 0.25, "inline_max": 0, "inline_primes_max": 3,
                      "metrics_port": 9464}


@pytest.mark.parametrize("task", ["primes", "factor"])
def test_settings_only_the_daemon_reads_leave_a_jobs_check_as_under_no_settings(
        default_spool, tmp_path, task):
    """What lets submit leave the check to the daemon under a config.yaml that sets only
    these: the daemon makes the same job of the same file under each as under none."""
    from runner.config import Config, load_config
    from runner.config_file import DAEMON_ONLY_SETTINGS
    from runner.jobfile import load_job

    assert DAEMON_ONLY_VALUES.keys() == DAEMON_ONLY_SETTINGS
    path = tmp_path / "n.txt"
    path.write_text(f"17977\n{2**100 + 1}\n")
    queued = default_spool.jobs / (api.submit_numbers(default_spool, open(path, "rb"), str(path),
                                                       fields={"task": task}) + ".yaml")
    expected = load_job(queued, default_spool.root, load_config(default_spool.root)).to_dict()
    for setting, value in DAEMON_ONLY_VALUES.items():
        (default_spool.root / "config.yaml").write_text(f"{setting}: {value}\n")
        config = load_config(default_spool.root)
        assert config != Config(), f"{setting}: {value} is its default"
        assert load_job(queued, default_spool.root, config).to_dict() == expected, setting


HEAVY_MODULES = ("pydantic", "numpy", "runner.registry", "importlib.metadata", "yaml",
                 "runner.chunks", "runner.spec")


CHECKED = ["pydantic", "runner.registry", "importlib.metadata", "yaml", "runner.chunks",
           "runner.spec"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("settings, options, loaded", [
    (None, (), []),  # runner init's config.yaml, no options: the daemon checks the rest
    ({"max_processes": 2}, (), CHECKED),  # a setting: the job is checked at the door against it
    # settings that no job's check reads: PyYAML reads them
    ({"inline_max": 0, "metrics_port": 9464}, (), ["yaml"]),
    # options within the default limits: the job file is written by PyYAML
    (None, ("--processes", "1"), ["yaml"]),
    (None, ("--chunksize", "20000", "--unordered", "--priority", "3", "--timeout", "60"),
     ["yaml"]),
    # over limits.retries: checked, and refused at the door before any chunk is made
    (None, ("--retries", "101"), [name for name in CHECKED if name != "runner.chunks"]),
    # one of runner's own tasks, named: known by its name, as the default task is
    (None, ("--task", "factor"), []),
    (None, ("--task", "factor", "--on-error", "record"), CHECKED),
])
def test_what_submit_loads_to_check_a_small_numbers_file(default_spool, tmp_path, settings,
                                                         options, loaded):
    """The start-up of `runner submit numbers.txt`: pydantic (with the config's and the job
    file's models), numpy and the task registry cost about 100 ms to load, and the first
    and the last are loaded only when a setting or an option must be checked (an option
    past the default limits, or one they say nothing of: --param, --on-error); PyYAML
    (6 ms) only when config.yaml sets something, or the job file is not the door's own;
    runner.chunks (2 ms) only for a check or a line that is not plain digits, and the
    daemon's job spec (runner.spec: two dataclasses, 1.5 ms) only for a check."""
    if settings is not None:  # these alone
        (default_spool.root / "config.yaml").write_text(
            "".join(f"{setting}: {value}\n" for setting, value in settings.items()))
    path = tmp_path / "n.txt"
    path.write_text("17977\n")
    script = ("import sys\nfrom runner.cli import app\n"
              "try:\n    app()\nfinally:\n"
              f"    print('loaded:', *[m for m in {HEAVY_MODULES!r} if m in sys.modules], "
              "file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", script, "submit", str(path), "--root",
                           str(default_spool.root), *options],
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout) == ((2, "") if "--retries" in options else (0, "n\n")), \
        proc.stderr
    assert proc.stderr.splitlines()[-1].split()[1:] == loaded, proc.stderr
