"""Plugin tasks on a real Dask cluster (LocalCluster, two worker processes with nannies)
and a real daemon: the workers look the task up by its registered name in their own
installs, run its init once each, and a worker that lacks the task, or has another
version of its package, fails the job naming the worker instead of hanging it."""

from __future__ import annotations

import json
import os

import pytest

distributed = pytest.importorskip("distributed")

from conftest import drop_job, wait_for_result, wait_ready  # noqa: E402
from dask_helpers import CliCluster, write_dask_config  # noqa: E402
from plugin_helpers import (FAULTY, FAULTY_TASKS, install, install_plugins, pyproject,  # noqa: E402
                            write_package)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
def cluster():
    """`dask scheduler` and two `dask worker` machines, started by the test with the
    PYTHONPATH it has then: what the workers have installed."""
    cluster = CliCluster()
    yield cluster
    cluster.kill()


def wait_for_workers(address: str, count: int = 2) -> list[int]:
    """The pids of the cluster's workers, once `count` have joined."""
    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(count, timeout=60)
        return list(client.run(os.getpid).values())


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugins")
    return install_plugins(root / "site", root)


def collatz_steps(n: int) -> int:
    steps = 0
    while n > 1:
        n = 3 * n + 1 if n % 2 else n // 2
        steps += 1
    return steps


def test_plugin_tasks_run_on_the_workers_with_their_init(spool, plugins, monkeypatch, cluster,
                                                         start_daemon):
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    cluster.start()
    pids = wait_for_workers(cluster.address)
    write_dask_config(spool.root, cluster.address)
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "steps.yaml", {"id": "steps", "task": "collatz",
                                   "range": {"start": 1, "stop": 2001}, "pool": {"chunksize": 200}})
    drop_job(spool, "counted.yaml", {"id": "counted", "task": "counted", "params": {"tag": "t2"},
                                     "range": {"start": 0, "stop": 400}, "pool": {"chunksize": 20}})
    steps = wait_for_result(spool, "steps", timeout=60)
    assert steps["state"] == "done" and steps["chunks"]["done"] == 10, steps
    with open(spool.outbox / "steps.jsonl") as lines:
        values = [line.strip() for line in lines]
    assert values == [f'["{n}", {collatz_steps(n)}]' for n in range(1, 2001)]
    counted = wait_for_result(spool, "counted", timeout=60)
    assert counted["state"] == "done", counted
    values = _values(spool, counted)
    assert {(inits, tag) for _, (pid, inits, tag) in values} == {(1, "t2")}  # once a worker
    assert {pid for _, (pid, _, _) in values} <= set(pids)
    assert daemon.stop() == 0


def _values(spool, result: dict) -> list:
    if "values" in result:
        return result["values"]
    with open(spool.outbox / result["values_file"]) as lines:
        return [json.loads(line) for line in lines]


def test_a_worker_without_the_task_or_with_another_version_fails_the_job_naming_it(
        spool, plugins, tmp_path, monkeypatch, cluster, start_daemon):
    newer = tmp_path / "newer-site"  # the faulty package at 0.4.0, and no collatz
    install(write_package(tmp_path / "faulty-0.4", {
        **FAULTY, "pyproject.toml": pyproject("runner-test-faulty", "0.4.0", FAULTY_TASKS)}), newer)
    monkeypatch.setenv("PYTHONPATH", str(newer))
    cluster.start()
    wait_for_workers(cluster.address)
    monkeypatch.setenv("PYTHONPATH", str(plugins))  # the daemon's: 0.3.0, and collatz
    write_dask_config(spool.root, cluster.address)
    daemon = start_daemon()
    wait_ready(daemon)
    drop_job(spool, "missing.yaml", {"id": "missing", "task": "collatz", "numbers": [27]})
    drop_job(spool, "other.yaml", {"id": "other", "task": "thirteen", "numbers": [7]})
    missing = wait_for_result(spool, "missing", timeout=60)
    assert missing["state"] == "failed", missing
    message, fix = missing["error"]["message"], missing["error"]["fix"]
    assert "no task 'collatz' is installed" in message, message
    assert "on the Dask worker tcp://127.0.0.1:" in message, message
    assert "install runner-example-tasks 1.0.0 wherever chunks run" in fix, fix
    other = wait_for_result(spool, "other", timeout=60)
    message = other["error"]["message"]
    assert other["state"] == "failed", other
    assert ("task 'thirteen' here is runner-test-faulty 0.4.0, not runner-test-faulty 0.3.0"
            in message), message
    assert "on the Dask worker tcp://" in message, message
    assert daemon.alive()
    assert daemon.stop() == 0
