"""Tasks registered by real plugin packages, pip-installed for the test (examples/collatz,
and packages the tests write: one that raises on a number, one whose import fails, one
that claims a name another package has), run by a real daemon: `runner tasks`, job
validation, map and filter results inline and in files, errors, and a worker killed
mid-chunk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (chunks_recorded, drop_job, free_port, read_result, run_cli, runner_command,
                      scrape_metrics, state_dir, wait_for_result, wait_ready, wait_until,
                      write_config, write_numbers)
from plugin_helpers import install, install_plugins, pyproject, write_package
from runner.spool import Spool
from test_example_tasks import COLLATZ_EDGES, example

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BROKEN = {
    "pyproject.toml": pyproject("runner-test-broken", "0.1.0",
                                {"explodes": "broken_tasks:f", "squares": "broken_tasks:g"}),
    "broken_tasks.py": """
        raise ImportError("this plugin needs a library that is not installed")
        """,
}

HOSTILE = {  # imports that would take the daemon down if it loaded them itself
    "pyproject.toml": pyproject("runner-test-hostile", "0.1.0", {
        "hangs": "hangs_on_import:f", "kills": "kills_on_import:f", "exits": "exits_on_import:f"}),
    "hangs_on_import.py": """
        import time
        time.sleep(3600)
        def f(n): return n
        """,
    "kills_on_import.py": """
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)
        def f(n): return n
        """,
    "exits_on_import.py": """
        import os
        os._exit(3)
        def f(n): return n
        """,
}


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    """examples/collatz and the faulty package, installed in one folder."""
    root = tmp_path_factory.mktemp("plugins")
    return install_plugins(root / "site", root)


@pytest.fixture
def with_plugins(plugins, monkeypatch) -> Path:
    """Every process the test starts (CLI, daemon, its workers) sees the plugins."""
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    return plugins


def runner_tasks(*args: str) -> subprocess.CompletedProcess:
    """`runner tasks`: what is installed, whatever the spool."""
    return subprocess.run(runner_command("tasks", *args), capture_output=True, text=True,
                          timeout=60)


def tasks_json() -> dict:
    out = runner_tasks("--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_runner_tasks_lists_every_task_with_its_package(spool, with_plugins):
    shown = tasks_json()
    tasks = {task["name"]: task for task in shown["tasks"]}
    assert {"primes", "collatz", "squares", "thirteen", "slow"} <= set(tasks)
    collatz = tasks["collatz"]
    assert (collatz["kind"], collatz["package"], collatz["version"]) == \
        ("map", "runner-example-tasks", "1.0.0")
    assert collatz["description"].startswith("Steps of the Collatz map")
    assert collatz["params"]["cap"]["default"] == 10_000
    assert tasks["squares"]["kind"] == "filter" and tasks["primes"]["package"] == "runner"
    assert shown["broken"] == []


def test_runner_tasks_reads_only_a_spools_config(spool, tmp_path):
    """`runner tasks --root` takes task_load_seconds from a spool's config.yaml (and
    says so when that is wrong, as the daemon would); a folder that is no spool may have
    a config.yaml of its own, which is none of runner's business."""
    (tmp_path / "config.yaml").write_text("someone else's: [settings\n")
    assert runner_tasks("--json", "--root", str(tmp_path)).returncode == 0
    write_config(spool.root, task_load_seconds=-1)
    refused = runner_tasks("--root", str(spool.root))
    assert refused.returncode == 2 and "task_load_seconds" in refused.stderr, refused.stderr


def test_a_broken_or_clashing_plugin_is_reported_and_the_rest_works(spool, plugins, tmp_path,
                                                                    monkeypatch, start_daemon):
    broken = tmp_path / "broken-site"
    install(write_package(tmp_path / "broken", BROKEN), broken)
    monkeypatch.setenv("PYTHONPATH", f"{plugins}{os.pathsep}{broken}")
    shown = tasks_json()
    failed = {task["name"]: task for task in shown["broken"]}
    assert "this plugin needs a library that is not installed" in failed["explodes"]["error"]
    assert sorted(failed["squares"]["packages"]) == ["runner-example-tasks", "runner-test-broken"]
    assert "claimed by 2 packages" in failed["squares"]["error"]
    assert "collatz" in {task["name"] for task in shown["tasks"]}  # the rest works
    plain = runner_tasks()
    assert "explodes\tBROKEN\trunner-test-broken" in plain.stdout

    numbers = write_numbers(tmp_path / "n.txt", range(10))
    refused = run_cli(spool, "submit", str(numbers), "--task", "explodes")
    assert refused.returncode == 2 and "task 'explodes' is broken" in refused.stderr
    drop_job(spool, "dropped.yaml", {"id": "dropped", "task": "squares", "numbers": [4]})
    daemon = start_daemon()
    result = wait_for_result(spool, "dropped")
    assert result["state"] == "failed" and "claimed by 2 packages" in result["error"]["message"]
    drop_job(spool, "fine.yaml", {"id": "fine", "task": "collatz", "numbers": [27]})
    assert wait_for_result(spool, "fine")["values"] == [[27, 111]]
    assert daemon.alive()
    assert daemon.stop() == 0


def late_package(version: str) -> dict[str, str]:
    return {
        "pyproject.toml": pyproject("runner-test-late", version, {"doubled": "late_tasks:doubled"}),
        "late_tasks.py": """
            def doubled(n: int) -> int:
                \"\"\"Twice the number.\"\"\"
                return 2 * n
            """,
    }


def test_a_task_installed_after_the_daemon_started_is_refused_saying_restart_it(
        spool, tmp_path, monkeypatch, start_daemon):
    """A daemon finds the installed tasks as it starts, and says which in its entry in
    the spool: a job naming a task installed since, or another release of it, is refused
    at `runner submit`, naming the daemon, and fails in the daemon saying so (not that
    the task is not installed, while `runner tasks` lists it) if dropped into jobs/;
    after a restart it runs."""
    newer, site = tmp_path / "newer-site", tmp_path / "site"  # newer first on the path
    newer.mkdir(), site.mkdir()
    monkeypatch.setenv("PYTHONPATH", f"{newer}{os.pathsep}{site}")
    numbers = write_numbers(tmp_path / "n.txt", [21])
    daemon = start_daemon()
    install(write_package(tmp_path / "late", late_package("0.1.0")), site)
    assert "doubled" in {task["name"] for task in tasks_json()["tasks"]}
    refused = run_cli(spool, "submit", str(numbers), "--task", "doubled")
    assert refused.returncode == 2 and list(spool.jobs.glob("*.yaml")) == [], refused.stdout
    assert (f"--task doubled: the daemon serving this spool (pid {daemon.pid} on " in refused.stderr
            and "did not find runner-test-late 0.1.0, which registers task 'doubled', "
            "installed when it started" in refused.stderr and "Fix: install the same release where that daemon runs, restart it" in refused.stderr), \
        refused.stderr
    drop_job(spool, "late.yaml", {"id": "late", "task": "doubled", "numbers": [21]})
    error = wait_for_result(spool, "late")["error"]
    assert "task 'doubled' was installed after this process found the installed tasks" in \
        error["message"] and error["fix"].startswith("restart the daemon"), error
    assert daemon.stop() == 0

    restarted = start_daemon()
    retried = run_cli(spool, "retry", "late")
    assert retried.returncode == 0, retried.stderr
    assert wait_for_result(spool, retried.stdout.strip())["values"] == [[21, 42]]
    install(write_package(tmp_path / "later", late_package("0.2.0")), newer)
    refused = run_cli(spool, "submit", str(numbers), "--task", "doubled")
    assert refused.returncode == 2 and "has task 'doubled' from runner-test-late 0.1.0, not " \
        "from runner-test-late 0.2.0 as installed here" in refused.stderr, refused.stderr
    assert restarted.stop() == 0
    again = start_daemon()
    submitted = run_cli(spool, "submit", str(numbers), "--task", "doubled")
    assert submitted.returncode == 0, submitted.stderr
    assert wait_for_result(spool, submitted.stdout.strip())["values"] == [[21, 42]]
    assert again.stop() == 0


@pytest.mark.parametrize("text, words", [
    ("task: os:system", "'os:system' is not a task name"),
    ("task: os.system", "'os.system' is not a task name"),
    ("task: runner.tasks.primes:PRIMES", "is not a task name"),
    ("task: colatz", "no task 'colatz' is installed; did you mean 'collatz'?"),
    ("task: collatz\nparams: {cpa: 5}", "'cpa' is not a param of task 'collatz'; did you mean 'cap'?"),
    ("task: collatz\nparams: {cap: many}", "params.cap is 'many'"),
])
def test_a_job_names_only_a_registered_task_with_its_params(spool, with_plugins, tmp_path,
                                                           text, words):
    job = tmp_path / "job.yaml"
    job.write_text(f"numbers: [7]\n{text}\n")
    refused = run_cli(spool, "submit", str(job))
    assert refused.returncode == 2, refused.stdout
    assert words in refused.stderr and f"{job}, line " in refused.stderr, refused.stderr
    assert list(spool.jobs.glob("*.yaml")) == []


@pytest.mark.parametrize("options, checked_at_the_door", [
    (("--task", "collatz"), False),  # its one param has a default: the daemon checks it
    (("--task", "slow"), False),  # a runner.Task, the same
    (("--task", "collatz", "--param", "cap=5"), True),  # a param given: checked here
])
def test_submit_leaves_the_check_of_a_plugin_task_needing_no_params_to_the_daemon(
        with_plugins, tmp_path, options, checked_at_the_door):
    """`runner submit numbers.txt --task T` under a config.yaml that sets nothing: a
    plugin's task that loads and needs no params is checked without pydantic and the
    config's models (about 0.1 s of the submit), and the job it queues passes the
    daemon's own check."""
    plain = Spool.create(tmp_path / "plain")  # as `runner init` makes it
    numbers = write_numbers(tmp_path / "n.txt", range(10))
    script = ("import sys\nfrom runner.cli import app\ntry:\n    app()\nfinally:\n"
              "    print('pydantic' in sys.modules, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", script, "submit", str(numbers), "--root",
                           str(plain.root), *options], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.split()[-1] == str(checked_at_the_door), proc.stderr
    check = ("import sys\nfrom pathlib import Path\nfrom runner.config import load_config\n"
             "from runner.jobfile import load_job\nroot = Path(sys.argv[1])\n"
             "job = load_job(root / 'jobs' / sys.argv[2], root, load_config(root))\n"
             "print(job.task, job.total)\n")  # where the plugins are, as in the daemon
    checked = subprocess.run([sys.executable, "-c", check, str(plain.root),
                              f"{proc.stdout.strip()}.yaml"], capture_output=True, text=True,
                             timeout=60)
    assert checked.stdout.split() == [options[1], "10"], checked.stderr


def test_map_and_filter_results_inline_and_in_files(spool, with_plugins, start_daemon, tmp_path):
    write_config(spool.root, inline_primes_max=5)
    numbers = write_numbers(tmp_path / "n.txt", [27, 1, 97, 16, 9, 2, 100, 3])
    daemon = start_daemon()
    wait_ready(daemon)
    for args in (("--task", "collatz", "--id", "small", "--param", "cap=100"),
                 ("--task", "squares", "--id", "sq")):
        assert run_cli(spool, "submit", str(numbers), *args).returncode == 0
    drop_job(spool, "few.yaml", {"id": "few", "task": "collatz", "numbers": [6, 7]})
    drop_job(spool, "fewsq.yaml", {"id": "fewsq", "task": "squares", "range": {"start": 0, "stop": 100}})
    drop_job(spool, "many.yaml", {"id": "many", "task": "collatz",
                                  "range": {"start": 1, "stop": 3001}, "pool": {"chunksize": 500}})

    small = wait_for_result(spool, "small")
    assert (small["state"], small["task"], small["params"]) == ("done", "collatz", {"cap": 100})
    assert small["values_file"] == "small.jsonl"  # 8 values, over the inline limit of 5
    lines = (spool.outbox / "small.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        ["27", 100], ["1", 0], ["97", 100], ["16", 4], ["9", 19], ["2", 1], ["100", 25], ["3", 7]]
    sq = wait_for_result(spool, "sq")
    assert (sq["kept"], sq["numbers_kept"]) == (4, [1, 16, 9, 100])  # in the job's order
    assert wait_for_result(spool, "few")["values"] == [[6, 8], [7, 16]]
    many_squares = wait_for_result(spool, "fewsq")
    assert (many_squares["kept"], many_squares["kept_file"]) == (10, "fewsq.kept")
    assert (spool.outbox / "fewsq.kept").read_text() == "".join(f"{n * n}\n" for n in range(10))
    from runner import api

    assert list(api.results(spool, "sq")) == [1, 16, 9, 100]
    assert list(api.results(spool, "fewsq")) == [n * n for n in range(10)]  # from its file
    assert list(api.results(spool, "few")) == [[6, 8], [7, 16]]
    assert list(api.results(spool, "small"))[:2] == [[27, 100], [1, 0]]  # from its .jsonl
    many = wait_for_result(spool, "many")
    assert many["numbers_tested"] == 3000 and many["chunks"]["done"] == 6
    values = [json.loads(line) for line in (spool.outbox / "many.jsonl").read_text().splitlines()]
    assert [int(n) for n, _ in values] == list(range(1, 3001))  # the job's order
    assert values[26] == ["27", 111]
    assert daemon.stop() == 0


def test_a_task_with_a_chunk_function_runs_it_under_a_daemon(spool, with_plugins, start_daemon):
    daemon = start_daemon()
    numbers = COLLATZ_EDGES + list(range(5000))
    drop_job(spool, "fast.yaml", {"id": "fast", "task": "collatz_fast", "numbers": numbers,
                                  "params": {"cap": 300}, "pool": {"chunksize": 1000}})
    result = wait_for_result(spool, "fast")
    assert result["state"] == "done" and result["values_file"] == "fast.jsonl", result
    values = [json.loads(line) for line in (spool.outbox / "fast.jsonl").read_text().splitlines()]
    assert values == [[str(n), example.collatz_steps(n, cap=300)] for n in numbers]
    assert daemon.stop() == 0


def test_an_exception_on_one_number_fails_the_job_naming_it(spool, with_plugins, start_daemon):
    daemon = start_daemon()
    drop_job(spool, "unlucky.yaml", {"id": "unlucky", "task": "thirteen",
                                     "range": {"start": 1, "stop": 100}})
    result = wait_for_result(spool, "unlucky")
    assert result["state"] == "failed", result
    message = result["error"]["message"]
    assert "ValueError: 13 is unlucky on the number 13" in message, message
    assert "faulty_tasks.py:" in message and "refuse_thirteen" in message, message
    assert daemon.alive()
    assert daemon.stop() == 0


def test_a_worker_killed_mid_chunk_reruns_only_that_chunk(spool, with_plugins, start_daemon):
    daemon = start_daemon()
    wait_ready(daemon)
    # chunks of 2 s: the worker seen computing still is when the kill lands, however loaded
    drop_job(spool, "slow.yaml", {"id": "slow", "task": "slow", "params": {"seconds": 0.05},
                                  "range": {"start": 0, "stop": 200},
                                  "pool": {"processes": 2, "chunksize": 40}})
    busy = wait_until(lambda: daemon.busy_workers() or None, 30, "a worker computing a chunk")
    os.kill(busy[0], signal.SIGKILL)
    result = wait_for_result(spool, "slow", timeout=60)
    assert result["state"] == "done", result
    assert result["numbers_tested"] == 200 and result["chunks"]["retried"] == 1
    values = [json.loads(line) for line in (spool.outbox / "slow.jsonl").read_text().splitlines()]
    assert [int(n) for n, _ in values] == list(range(200))  # each number once, in order
    assert daemon.stop() == 0


def test_init_runs_once_in_each_worker_also_in_replacements(spool, with_plugins, start_daemon):
    daemon = start_daemon()
    drop_job(spool, "counted.yaml", {"id": "counted", "task": "counted", "params": {"tag": "t1"},
                                     "range": {"start": 0, "stop": 60},
                                     "pool": {"processes": 2, "chunksize": 10,
                                              "maxtasksperchild": 1}})
    result = wait_for_result(spool, "counted")
    assert result["state"] == "done", result
    values = [value for _, value in result["values"]]
    assert {(inits, tag) for _, inits, tag in values} == {(1, "t1")}  # once a worker, its params
    assert len({pid for pid, _, _ in values}) >= 6  # a fresh worker a chunk, each initialized
    assert daemon.stop() == 0


def test_the_built_in_factor_task(spool, start_daemon):
    daemon = start_daemon()
    numbers = [0, 1, 2, 12, 2**64 + 1, 10**30 + 57, 2**61 - 1, (2**31 - 1) * (2**61 - 1)]
    drop_job(spool, "f.yaml", {"id": "f", "task": "factor", "numbers": numbers})
    result = wait_for_result(spool, "f")
    assert result["state"] == "done" and result["task"] == "factor", result
    assert result["values"] == [
        [0, []], [1, []], [2, [["2", 1]]], [12, [["2", 2], ["3", 1]]],
        [2**64 + 1, [["274177", 1], ["67280421310721", 1]]], [10**30 + 57, [[str(10**30 + 57), 1]]],
        [2**61 - 1, [[str(2**61 - 1), 1]]], [(2**31 - 1) * (2**61 - 1), [[str(2**31 - 1), 1], [str(2**61 - 1), 1]]]]
    assert daemon.stop() == 0


def test_a_chunk_past_its_timeout_is_stopped(spool, with_plugins, start_daemon):
    daemon = start_daemon()
    drop_job(spool, "stuck.yaml", {"id": "stuck", "task": "slow", "params": {"seconds": 30},
                                   "numbers": [1, 2], "timeout": 1, "retries": 0})
    result = wait_for_result(spool, "stuck", timeout=30)
    assert result["state"] == "failed" and "timeout" in result["error"]["message"], result
    assert daemon.busy_workers() == []  # the worker computing it was stopped
    assert daemon.stop() == 0


def test_a_daemon_killed_mid_job_resumes_a_plugin_task_exactly(spool, with_plugins,
                                                             start_daemon):
    daemon = start_daemon()
    drop_job(spool, "long.yaml", {"id": "long", "task": "slow", "params": {"seconds": 0.004},
                                  "range": {"start": 0, "stop": 2000},
                                  "pool": {"processes": 2, "chunksize": 100}})
    wait_until(lambda: chunks_recorded(spool, "long") >= 3, 30, "three chunks recorded")
    daemon.kill()
    assert read_result(spool, "long") is None, "it finished before the kill; make it longer"
    restarted = start_daemon()
    result = wait_for_result(spool, "long", timeout=60)
    assert result["state"] == "done" and result["numbers_tested"] == 2000, result
    values = [json.loads(line) for line in (spool.outbox / "long.jsonl").read_text().splitlines()]
    assert [int(n) for n, _ in values] == list(range(2000))  # each once, in order
    assert restarted.stop() == 0


def test_a_daemon_killed_mid_job_resumes_a_job_cut_by_cost_exactly(spool, start_daemon):
    """factor's chunks of a file of mixed sizes are cut by each number's cost (spec.json
    keeps the caps): the restarted daemon plans the same chunks from the spec and file,
    so the result has each number once, in order, with its factors."""
    import random

    import flint

    rng = random.Random(5)
    numbers = [rng.getrandbits(64) | 1 << 63 for _ in range(20_000)]
    for at in range(0, 20_000, 400):
        numbers.insert(at, rng.getrandbits(120) | 1 << 119)
    (spool.root / "mixed.txt").write_text("".join(f"{n}\n" for n in numbers))
    daemon = start_daemon()
    drop_job(spool, "mixed.yaml", {"id": "mixed", "task": "factor", "numbers_file": "mixed.txt",
                                   "pool": {"processes": 2}})
    wait_until(lambda: chunks_recorded(spool, "mixed") >= 3, 30, "three chunks recorded")
    spec = json.loads((state_dir(spool, "running", "mixed") / "spec.json").read_text())
    daemon.kill()
    assert read_result(spool, "mixed") is None, "it finished before the kill; make it longer"
    caps = dict(map(tuple, spec["chunk_caps"]))  # a 120-bit number weighs far more
    assert caps[36] < caps[20] < spec["chunksize"], spec
    restarted = start_daemon()
    result = wait_for_result(spool, "mixed", timeout=90)
    assert result["state"] == "done" and result["numbers_tested"] == len(numbers), result
    values = [json.loads(line) for line in (spool.outbox / "mixed.jsonl").read_text().splitlines()]
    assert [int(n) for n, _ in values] == numbers  # each once, in order
    assert all(value == [[str(p), e] for p, e in sorted(flint.fmpz(int(n)).factor())]
               for n, value in values[::97])
    assert restarted.stop() == 0


def test_on_error_record_makes_the_exception_the_value_and_counts_it(spool, with_plugins,
                                                                     start_daemon, tmp_path):
    numbers = write_numbers(tmp_path / "n.txt", range(10, 16))
    daemon = start_daemon()
    wait_ready(daemon)
    recorded = run_cli(spool, "submit", str(numbers), "--task", "thirteen", "--on-error",
                       "record", "--wait")
    assert recorded.returncode == 0, recorded.stderr
    result = wait_for_result(spool, "n")
    assert (result["state"], result["errors"]) == ("done", 1), result
    assert result["values"] == [[10, 10], [11, 11], [12, 12],
                                [13, {"error": "ValueError: 13 is unlucky"}], [14, 14], [15, 15]]
    refused = run_cli(spool, "submit", str(numbers), "--task", "squares", "--on-error", "record")
    assert refused.returncode == 2 and "'squares' is a filter" in refused.stderr, refused.stderr
    assert daemon.stop() == 0


def test_a_plugin_job_is_shown_logged_counted_and_cancelled_as_a_primes_job_is(
        spool, with_plugins, start_daemon):
    port = free_port()
    write_config(spool.root, metrics_port=port)
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "sq.yaml", {"id": "sq", "task": "squares", "range": {"start": 0, "stop": 50}})
    assert wait_for_result(spool, "sq")["kept"] == 8
    drop_job(spool, "slow.yaml", {"id": "slow", "task": "slow", "params": {"seconds": 0.01},
                                  "range": {"start": 0, "stop": 100_000},
                                  "pool": {"processes": 2, "chunksize": 50}})

    def moving():
        rows = json.loads(run_cli(spool, "status", "--json").stdout)["jobs"]
        row = next((row for row in rows if row["id"] == "slow"), None)
        return row if row and row["state"] == "running" and row["found"] > 0 else None

    row = wait_until(moving, 30, "the slow job running, its values counted")
    assert (row["task"], row["output"]) == ("slow", "map") and "primes" not in row, row
    assert 0 < row["found"] <= row["tested"] < row["total"] == 100_000, row
    plain = run_cli(spool, "status").stdout.splitlines()
    by_id = {line.split("\t")[0]: line.split("\t") for line in plain[1:]}
    assert by_id["slow"][1:3] == ["running", "slow"] and by_id["sq"][1:3] == ["done", "squares"]

    asked = time.monotonic()
    assert run_cli(spool, "cancel", "slow").returncode == 0
    assert read_result(spool, "slow")["state"] == "cancelled"
    assert time.monotonic() - asked < 3  # the command's start-up and a loaded machine included
    wait_until(lambda: daemon.busy_workers() == [], 5, "the cancelled job's workers stopped")
    logged = [json.loads(line) for line in run_cli(spool, "logs", "--json").stdout.splitlines()]
    started = {r["job"]: r for r in logged if r["event"] == "started"}
    assert started["slow"]["task"] == "slow" and started["sq"]["task"] == "squares"
    finished = {r["job"]: r for r in logged if r["event"] in ("done", "cancelled")}
    assert (finished["sq"]["task"], finished["sq"]["found"]) == ("squares", 8)
    assert finished["slow"]["event"] == "cancelled" and finished["slow"]["task"] == "slow"

    metrics = scrape_metrics(port)
    assert metrics['runner_numbers_found_total{task="squares"}'] == 8
    assert metrics['runner_numbers_tested_total{task="squares"}'] == 50
    assert metrics['runner_jobs_finished_total{state="done",task="squares"}'] == 1
    assert metrics['runner_jobs_finished_total{state="cancelled",task="slow"}'] == 1
    assert metrics['runner_chunks_done_total{task="squares"}'] == 1
    assert not any("primes" in name for name in metrics), metrics
    assert daemon.stop() == 0


@pytest.mark.timeout(90)
def test_a_plugin_whose_import_hangs_or_kills_is_broken_and_the_daemon_lives(
        spool, plugins, tmp_path, monkeypatch, start_daemon):
    hostile = tmp_path / "hostile-site"
    install(write_package(tmp_path / "hostile", HOSTILE), hostile)
    monkeypatch.setenv("PYTHONPATH", f"{plugins}{os.pathsep}{hostile}")
    write_config(spool.root, task_load_seconds=2)
    shown = json.loads(runner_tasks("--json", "--root", str(spool.root)).stdout)  # the daemon's 2 s
    failed = {task["name"]: task["error"] for task in shown["broken"]}
    assert "its import still ran after 2 s" in failed["hangs"], failed
    given = json.loads(runner_tasks("--json", "--load-seconds", "1").stdout)
    assert "its import still ran after 1 s" in {t["name"]: t["error"] for t in given["broken"]}["hangs"]
    assert "its import killed its process (SIGKILL)" in failed["kills"], failed
    assert "its import ended its process (exit code 3)" in failed["exits"], failed
    assert "collatz" in {task["name"] for task in shown["tasks"]}

    numbers = write_numbers(tmp_path / "n.txt", range(10))
    refused = run_cli(spool, "submit", str(numbers), "--task", "kills")
    assert refused.returncode == 2 and "killed its process" in refused.stderr, refused.stderr
    daemon = start_daemon()
    wait_ready(daemon)
    for name in ("hangs", "kills", "exits"):
        drop_job(spool, f"{name}.yaml", {"id": name, "task": name, "numbers": [4]})
    drop_job(spool, "fine.yaml", {"id": "fine", "task": "collatz", "numbers": [27]})
    assert wait_for_result(spool, "fine")["values"] == [[27, 111]]
    for name, words in (("hangs", "still ran after 2 s"), ("kills", "killed its process"),
                        ("exits", "exit code 3")):
        result = wait_for_result(spool, name)
        assert result["state"] == "failed" and words in result["error"]["message"], result
        assert f"task {name!r} is broken" in result["error"]["message"], result
    assert daemon.alive()
    assert daemon.stop() == 0


AHEAD = {  # an import that says it started, by its pid in a file, and takes its time
    "pyproject.toml": pyproject("runner-test-ahead", "0.1.0",
                                {"noted": "noted_on_import:f", "stuck": "stuck_on_import:f"}),
    "noted_on_import.py": """
        import os, time
        with open(os.environ["RUNNER_TEST_NOTES"] + "/noted", "w") as note:
            note.write(str(os.getpid()))
        time.sleep(0.5)
        def f(n): return n
        """,
    "stuck_on_import.py": """
        import os, time
        with open(os.environ["RUNNER_TEST_NOTES"] + "/stuck", "w") as note:
            note.write(str(os.getpid()))
        time.sleep(3600)
        def f(n): return n
        """,
}


@pytest.mark.timeout(60)
def test_the_doors_trial_load_starts_ahead_and_none_outlives_it(tmp_path, monkeypatch):
    """`runner submit --task T` starts T's trial load before it copies the numbers, and
    takes its verdict after; a trial nobody asked for (the numbers were refused) is
    killed, even one whose import would never end."""
    from runner.registry import registry

    site, notes = tmp_path / "site", tmp_path / "notes"
    install(write_package(tmp_path / "ahead", AHEAD), site)
    notes.mkdir()
    monkeypatch.syspath_prepend(str(site))  # for this process, and for its trials:
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("RUNNER_TEST_NOTES", str(notes))
    tasks = registry.__wrapped__()  # a registry of its own: sys.path as the test made it
    tasks.guard_loads(20)
    with tasks.loading_ahead("noted"):
        wait_until((notes / "noted").exists, 20, "the trial's import, before any lookup")
        assert tasks.lookup("noted").package == "runner-test-ahead"
    with tasks.loading_ahead("stuck"):
        pid = int(wait_until(lambda: (notes / "stuck").exists()
                             and (notes / "stuck").read_text(), 20, "the stuck trial's pid"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped on leaving


def test_a_task_stuck_in_c_code_past_its_timeout_is_stopped(spool, start_daemon):
    """FLINT's factoring checks no signals: a 260-bit semiprime holds its worker in C
    for minutes. The chunk's timeout stops it all the same (the worker is killed)."""
    import gmpy2

    p = int(gmpy2.next_prime(2**129 + 12345))
    q = int(gmpy2.next_prime(2**130 + 67890))
    daemon = start_daemon()
    wait_ready(daemon)
    started = time.monotonic()
    drop_job(spool, "hard.yaml", {"id": "hard", "task": "factor", "numbers": [p * q],
                                  "timeout": 1, "retries": 0})
    result = wait_for_result(spool, "hard", timeout=30)
    assert result["state"] == "failed" and "timeout" in result["error"]["message"], result
    assert time.monotonic() - started < 15
    wait_until(lambda: daemon.busy_workers() == [], 5, "the stuck worker stopped")
    assert daemon.stop() == 0


def test_plugin_jobs_run_by_priority(spool, with_plugins, start_daemon):
    """The queue's order knows nothing of tasks: plugin jobs run by priority, then in the
    order queued, as primes jobs do."""
    write_config(spool.root, max_running_jobs=1)
    base = time.time() - 100
    for n, (name, priority) in enumerate([("low", 0), ("high", 5), ("mid", 2)]):
        path = drop_job(spool, f"{name}.yaml", {"id": name, "task": "collatz", "numbers": [27],
                                                 "priority": priority})
        os.utime(path, (base + n, base + n))
    daemon = start_daemon()
    for name in ("low", "high", "mid"):
        assert wait_for_result(spool, name)["values"] == [[27, 111]]
    logged = [json.loads(line) for line in run_cli(spool, "logs", "--json").stdout.splitlines()]
    assert [r["job"] for r in logged if r["event"] == "started"] == ["high", "mid", "low"]
    assert daemon.stop() == 0
