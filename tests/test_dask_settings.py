"""`backend: dask` in config.yaml and in a job's resolved form, and the bytes a chunk of a
numbers file travels as; no cluster needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner.chunks import FilePayload, TextPayload, read_lines
from runner.plan import plan_chunks
from runner.config import load_config
from runner.errors import ConfigError
from runner.jobfile import load_job
from runner.tasks.primes import test_chunk as run_task

from conftest import reference_primes, write_numbers

SCHEDULER = "tcp://127.0.0.1:8786"


def config_at(root: Path, **settings):
    (root / "config.yaml").write_text(yaml.safe_dump(settings))
    return load_config(root)


def test_local_is_the_default_backend(tmp_path):
    assert config_at(tmp_path).backend == "local"


def test_dask_needs_its_scheduler(tmp_path):
    with pytest.raises(ConfigError, match="needs `dask: {scheduler"):
        config_at(tmp_path, backend="dask")
    with pytest.raises(ConfigError, match="dask.scheduler"):
        config_at(tmp_path, backend="dask", dask={"scheduler": "8786"})
    config = config_at(tmp_path, backend="dask", dask={"scheduler": SCHEDULER})
    assert config.dask.scheduler == SCHEDULER and config.dask.connect_timeout == 2.0


def test_a_local_pool_setting_is_accepted_and_not_used_on_a_cluster(tmp_path):
    job_file = tmp_path / "j.yaml"
    job_file.write_text(yaml.safe_dump({"numbers": [7], "pool": {
        "processes": 2, "start_method": "spawn", "maxtasksperchild": 3}}))
    on_cluster = load_job(job_file, tmp_path, config_at(
        tmp_path, max_processes=2, backend="dask", dask={"scheduler": SCHEDULER}))
    assert (on_cluster.pool.processes, on_cluster.pool.start_method,
            on_cluster.pool.maxtasksperchild) == (2, "dask worker", None)
    local = load_job(job_file, tmp_path, config_at(tmp_path, max_processes=2))
    assert (local.pool.start_method, local.pool.maxtasksperchild) == ("spawn", 3)


def test_a_numbers_file_chunk_as_bytes_gives_the_same_primes(tmp_path):
    numbers = list(range(10**12, 10**12 + 5000, 3))
    write_numbers(tmp_path / "n.numbers", numbers)
    job_file = tmp_path / "j.yaml"
    job_file.write_text(yaml.safe_dump({"numbers_file": "n.numbers", "pool": {"chunksize": 400}}))
    job = load_job(job_file, tmp_path, config_at(tmp_path))
    primes = b""
    for chunk in plan_chunks(job, tmp_path, 64):
        assert isinstance(chunk.payload, FilePayload)
        carried = read_lines(chunk.payload)
        assert isinstance(carried, TextPayload)
        assert run_task(carried) == run_task(chunk.payload)
        primes += run_task(carried)[2]
    assert [int(p) for p in primes.split()] == reference_primes(numbers)


def test_the_local_backend_never_imports_distributed():
    probe = ("import sys, runner.cli, runner.daemon, runner.backend; "
             "from runner.config import Config; "
             "runner.daemon.open_backend(Config(), lambda m: None, lambda *a, **k: None).shutdown(); "
             "print('distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
