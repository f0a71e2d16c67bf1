"""The Python API (runner/api.py) against a real daemon: the README's example, run as
written, and what `wait` and `results` do with jobs that are not done."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import drop_job, sieve, wait_for_result, write_config
from runner import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> tuple[str, str]:
    """The Python block of the README's "The Python API" section, and the output it says
    the block prints."""
    section = README.read_text().split("### The Python API", 1)[1].split("\n### ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = re.search(r"It prints[^:]*:\n\n```\n(.*?)```", section, re.S).group(1)
    return code, printed


def test_the_readme_example_runs_twice_and_prints_what_it_says(spool, start_daemon):
    code, printed = readme_example()
    assert "api.submit" in code and "api.results" in code and "api.wait" in code
    daemon = start_daemon()
    for run in (1, 2):  # a second run in the same spool works too
        proc = subprocess.run([sys.executable, "-c", code], cwd=spool.root, capture_output=True,
                              text=True, timeout=80)
        assert proc.returncode == 0, (run, proc.stderr, daemon.log())
        assert proc.stdout == printed, run
    assert (spool.outbox / "range-2.primes").exists()  # the big one streamed from its primes file
    assert daemon.stop() == 0


def test_wait_and_results_of_jobs_that_are_not_done(spool, start_daemon):
    with pytest.raises(api.SpoolError, match="give the numbers to test, or a range"):
        api.submit(spool)
    queued = api.submit(spool, iter([5, 6, 7]), job_id="later")
    with pytest.raises(api.SpoolError, match="'later' is queued, not finished: wait"):
        list(api.results(spool, queued))
    with pytest.raises(TimeoutError, match="'later' is not finished after 0.3 s"):
        api.wait(spool, queued, timeout=0.3)  # no daemon yet
    with pytest.raises(api.SpoolError, match="no job with id 'ghost'"):
        api.wait(spool, "ghost", timeout=10)

    write_config(spool.root, limits={"numbers": 2})
    daemon = start_daemon()
    seen = []
    result = api.wait(spool, queued, timeout=30, on_progress=seen.append)
    assert result["state"] == "failed" and "limits.numbers" in result["error"]["message"]
    assert seen[-1]["state"] == "failed" and seen[-1]["id"] == "later"
    with pytest.raises(api.SpoolError, match="'later' is failed, so it has no results: .*"
                       "limits.numbers.*runner retry later"):
        list(api.results(spool, queued))

    drop_job(spool, "two.yaml", {"id": "two", "numbers": [2, 4]})
    wait_for_result(spool, "two")
    assert list(api.results(spool, "two")) == [2]
    assert {job["id"]: job["state"] for job in api.status(spool)} == {"later": "failed",
                                                                      "two": "done"}
    assert daemon.stop() == 0


def test_submit_streams_a_generator_of_numbers(spool, start_daemon):
    daemon = start_daemon()
    job = api.submit(spool, (n for n in range(50_000)), job_id="gen", priority=1,
                     pool={"chunksize": 5_000})
    assert api.wait(spool, job, timeout=60)["primes_found"] == len(sieve(50_000))
    assert list(api.results(spool, job)) == sieve(50_000)
    assert api.inspect(spool, job)["spec"]["priority"] == 1
    assert daemon.stop() == 0


def test_status_of_a_job_started_before_its_first_progress_shows_its_priority(spool):
    import json

    from runner.jobdir import SPEC_FILE

    path = drop_job(spool, "fresh.yaml", {"id": "fresh", "numbers": [3], "priority": 6})
    assert [(j["state"], j["priority"]) for j in api.status(spool)] == [("queued", 6)]
    jobdir = spool.claim(path)  # as the daemon takes it: claimed, placed, its spec saved
    spool.place_running(jobdir, "fresh")
    spool.write_atomically(jobdir.file(SPEC_FILE), json.dumps({"priority": 6}).encode())
    assert [(j["state"], j["priority"]) for j in api.status(spool)] == [("running", 6)]
    jobdir.release()


def test_inspect_reads_a_job_that_moves_on_while_read_where_it_went(spool, monkeypatch):
    """A job claimed (or archived) between finding it and reading it is read again in its
    new place, never shown with an unreadable spec (a full run saw a just-finished job's
    spec as '(unreadable: ...)': its folder was archived under the reader)."""
    import json

    from runner import client
    from runner.jobdir import SPEC_FILE

    path = drop_job(spool, "moving.yaml", {"id": "moving", "numbers": [3], "priority": 6})
    summary, taken = client._summary, []

    def summary_as_the_daemon_takes_it(spool_, info):
        if not taken:  # the daemon claims the job just after the reader found it queued
            jobdir = spool.claim(path)
            spool.place_running(jobdir, "moving")
            spool.write_atomically(jobdir.file(SPEC_FILE), json.dumps({"priority": 6}).encode())
            taken.append(jobdir)
        return summary(spool_, info)

    monkeypatch.setattr(client, "_summary", summary_as_the_daemon_takes_it)
    inspected = api.inspect(spool, "moving")
    assert (inspected["state"], inspected["spec"]) == ("running", {"priority": 6})
    taken[0].release()


def test_submit_takes_the_first_id_that_no_job_and_no_result_has(spool, tmp_path):
    """A file submitted again gets NAME-2, NAME-3, ...: the first id that no queued job
    (by its `id:`, not its file's name) and no result has; taken ids are read once."""
    for name, job_id in (("n", "n"), ("n-2", "n-2"), ("other", "n-5")):
        (spool.jobs / f"{name}.yaml").write_text(f"id: {job_id}\nnumbers: [7]\n")
    spool.result_path("n-3").write_text("id: n-3\n")  # a finished job's result
    path = tmp_path / "n.txt"
    path.write_text("7\n")
    ids = [api.submit_numbers(spool, open(path, "rb"), str(path)) for _ in range(3)]
    assert ids == ["n-4", "n-6", "n-7"]
