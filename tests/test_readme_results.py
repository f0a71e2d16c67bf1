"""The README shows results as they are: its result examples are checked, line for line
but for the times, against the results a real daemon writes for the same jobs; and the
repository's samples and config.yaml are what a new user gets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import read_result, runner_command, write_config
from runner.config import CONFIG_TEMPLATE
from runner.spool import Spool

pytestmark = pytest.mark.e2e  # it starts processes (see conftest.py)

REPOSITORY = Path(__file__).resolve().parents[1]
SAMPLES = REPOSITORY / "jobs" / "samples"
# the lines whose values change from run to run
_TIMES = re.compile(r"^(  (?:queued|started|finished|seconds|running_seconds|"
                    r"waited_for_daemon_seconds)): .*$", re.M)


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a markdown text, whatever their language, in order."""
    return re.findall(r"^ *```[a-z]*\n(.*?)^ *```", text, re.S | re.M)


def is_result(block: str) -> bool:
    try:
        document = yaml.safe_load(block)
    except yaml.YAMLError:
        return False
    return isinstance(document, dict) and {"state", "timings"} <= set(document)


def without_times(text: str) -> str:
    return _TIMES.sub(r"\1: ~", text)


@pytest.mark.timeout(60)
def test_readme_results_are_what_the_daemon_writes(tmp_path):
    """Every result the README shows, wherever it is, is this daemon's for its job."""
    readme = (REPOSITORY / "README.md").read_text()
    results = [block for block in code_blocks(readme) if is_result(block)]
    section = readme.split("### The result file", 1)[1].split("\n## ", 1)[0]
    job_files = {block.split("\n", 1)[0][2:]: block.split("\n", 1)[1]
                 for block in code_blocks(section) if block.startswith("# jobs/")}
    assert [yaml.safe_load(block)["id"] for block in results] == ["book-case-study", "bad"], (
        "a result example this test cannot make yet: give it its job")
    assert list(job_files) == ["jobs/bad.yaml"], job_files
    spool = Spool.create(tmp_path / "spool")
    write_config(spool.root, max_processes=2)
    shutil.copy(SAMPLES / "book-case-study.yaml", spool.jobs)
    for name, text in job_files.items():
        (spool.root / name).write_text(text)
    drained = subprocess.run(runner_command("start", "--drain", "--root", str(spool.root)),
                             capture_output=True, text=True, timeout=50)
    assert drained.returncode == 0, drained.stderr
    for example in results:
        job_id = yaml.safe_load(example)["id"]
        real = spool.result_path(job_id).read_text()
        assert without_times(real) == without_times(example), f"outbox/{job_id}.yaml:\n{real}"


@pytest.mark.timeout(90)
def test_the_samples_run_on_one_core(tmp_path):
    """README command 1 on a machine of one core (`taskset -c 0`): three results, done."""
    spool = Spool.create(tmp_path / "spool")
    (spool.root / "config.yaml").write_text(CONFIG_TEMPLATE)  # the defaults: every core
    shutil.copytree(SAMPLES, spool.jobs / "samples")
    for sample in SAMPLES.glob("*.yaml"):
        shutil.copy(sample, spool.jobs)
    drained = subprocess.run(runner_command("start", "--drain", "--root", str(spool.root)),
                             capture_output=True, text=True, timeout=80,
                             preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert drained.returncode == 0, drained.stderr
    found = {job_id: read_result(spool, job_id) for job_id in
             ("book-case-study", "first-thousand", "range-100k")}
    assert {job_id: (r["state"], r["primes_found"]) for job_id, r in found.items()} == {
        "book-case-study": ("done", 14), "first-thousand": ("done", 168),
        "range-100k": ("done", 9592)}, found
    assert {r["settings"]["processes"] for r in found.values()} == {1}


def test_the_repositorys_config_shows_every_setting_runner_init_writes():
    assert (REPOSITORY / "config.yaml").read_text() == CONFIG_TEMPLATE
