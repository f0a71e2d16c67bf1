"""The disk fails under the daemon: the job waits with a clear error, the daemon keeps
running, and the job finishes once, exactly, when the disk is back."""

import shutil

import pytest

from conftest import drop_job, result_primes, state_dir, wait_for_log, wait_for_result, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def test_result_cannot_be_written_the_job_waits_then_finishes_once(spool, start_daemon):
    daemon = start_daemon()
    wait_ready(daemon, timeout=30)
    shutil.rmtree(spool.outbox)
    spool.outbox.write_text("not a folder")  # no result can be written, nor the folder made
    drop_job(spool, "j.yaml", {"range": {"start": 0, "stop": 20000}, "pool": {"chunksize": 5000}})
    wait_for_log(daemon, "disk failed", timeout=30)
    assert daemon.alive()
    assert state_dir(spool, "running", "j").exists()  # waiting: neither lost nor failed
    spool.outbox.unlink()  # the disk is back
    result = wait_for_result(spool, "j", timeout=30)
    assert result["state"] == "done", result
    assert result["primes_found"] == 2262
    assert sorted(p.name for p in spool.outbox.glob("j*")) == ["j.primes", "j.yaml"]
    drop_job(spool, "after.yaml", {"numbers": [2, 3, 4, 5]})
    assert result_primes(spool, wait_for_result(spool, "after")) == [2, 3, 5]
    assert daemon.alive()
