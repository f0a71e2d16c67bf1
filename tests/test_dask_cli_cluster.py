"""The Dask backend on a cluster started from the command line, as a user would across
machines: `dask scheduler` and two `dask worker` processes, each worker in a process
group of its own (its "machine": nanny and worker). The scheduler is started after the
daemon (jobs wait, then run), one machine is SIGKILLed mid-job (its chunks run on the
other), and the whole cluster is killed mid-job and started again (the job resumes)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("distributed")

from conftest import (big_reference, chunks_recorded, drop_job, read_result,  # noqa: E402
                      result_primes, run_cli, wait_for_result, wait_ready, wait_until)
from dask_helpers import CliCluster, write_dask_config  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

BIG, CHUNK = 2 ** 2000, 600  # a chunk of about 0.1 s


@pytest.fixture
def cli_cluster():
    cluster = CliCluster()
    yield cluster
    cluster.kill()


def events_of(spool, name: str) -> list[dict]:
    return [e for e in spool.events.log.read() if e["event"] == name]


def job_status(spool, job_id: str) -> dict:
    """The job's row of `runner status --json`."""
    proc = run_cli(spool, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    return next(job for job in json.loads(proc.stdout)["jobs"] if job["id"] == job_id)


def test_scheduler_absent_at_start_jobs_wait_then_run(spool, start_daemon, cli_cluster):
    write_dask_config(spool.root, cli_cluster.address)
    daemon = start_daemon()
    wait_ready(daemon)
    count = 12 * CHUNK
    for name in ("first", "second"):
        drop_job(spool, f"{name}.yaml", {"id": name, "range": {"start": BIG, "stop": BIG + count},
                                         "pool": {"chunksize": CHUNK}})
    wait_until(lambda: events_of(spool, "scheduler_unreachable"), 10, "scheduler_unreachable")
    time.sleep(2)  # a few more tries to connect: the jobs wait, none fails
    assert read_result(spool, "first") is None and read_result(spool, "second") is None
    status = job_status(spool, "first")
    assert status["state"] == "running", status
    assert "not connected to the Dask scheduler" in status.get("waiting", ""), status
    assert len(events_of(spool, "scheduler_unreachable")) == 1, "said once per outage"

    cli_cluster.start()
    expected = list(big_reference(BIG, BIG + count))
    for name in ("first", "second"):
        result = wait_for_result(spool, name, timeout=60)
        assert result["state"] == "done", (result, daemon.log())
        assert result_primes(spool, result) == expected
    assert events_of(spool, "scheduler_connected"), daemon.log()
    assert daemon.stop() == 0


def running_long_job(spool, start_daemon, cluster: CliCluster, job_id: str):
    """A started cluster, a daemon connected to it, and a job of 40 chunks well under way."""
    cluster.start()
    write_dask_config(spool.root, cluster.address)
    daemon = start_daemon()
    wait_until(lambda: events_of(spool, "scheduler_connected"), 30, "connected")
    drop_job(spool, f"{job_id}.yaml", {"id": job_id, "range": {"start": BIG, "stop": BIG + 40 * CHUNK},
                                       "pool": {"chunksize": CHUNK}})
    wait_until(lambda: chunks_recorded(spool, job_id) >= 4, 60, "some chunks recorded")
    return daemon


def assert_done_and_exact(spool, daemon, job_id: str) -> None:
    result = wait_for_result(spool, job_id, timeout=60)
    assert result["state"] == "done", (result, daemon.log())
    assert result_primes(spool, result) == list(big_reference(BIG, BIG + 40 * CHUNK))
    assert result["chunks"]["done"] == 40


def test_a_worker_machine_lost_mid_job_its_chunks_run_on_the_other(spool, start_daemon,
                                                                     cli_cluster):
    daemon = running_long_job(spool, start_daemon, cli_cluster, "machines")
    cli_cluster.lose_machine(0)
    assert read_result(spool, "machines") is None, "the job finished before the machine was lost"
    assert_done_and_exact(spool, daemon, "machines")
    assert daemon.stop() == 0


def test_whole_cluster_lost_mid_job_the_job_waits_and_resumes(spool, start_daemon, cli_cluster):
    daemon = running_long_job(spool, start_daemon, cli_cluster, "outage")
    cli_cluster.kill()
    wait_until(lambda: events_of(spool, "scheduler_lost"), 15, "scheduler_lost")
    wait_until(lambda: "waiting" in job_status(spool, "outage"), 5, "status to say why it waits")
    assert read_result(spool, "outage") is None

    cli_cluster.start()
    assert_done_and_exact(spool, daemon, "outage")
    assert len(events_of(spool, "scheduler_connected")) == 2, daemon.log()
    assert daemon.stop() == 0
