"""limits.queued_jobs: jobs past the limit fail with a message naming it; the rest run."""

import pytest

from conftest import drop_job, wait_for_result, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def test_jobs_past_the_queue_limit_fail_naming_the_limit(spool, start_daemon):
    write_config(spool.root, limits={"queued_jobs": 3})
    for k in range(5):
        drop_job(spool, f"q{k}.yaml", {"numbers": [7, 8, 9]})
        (spool.jobs / f"q{k}.yaml").touch()  # distinct mtimes: oldest first
    daemon = start_daemon()
    states = {k: wait_for_result(spool, f"q{k}")["state"] for k in range(5)}
    assert sorted(states.values()) == ["done"] * 3 + ["failed"] * 2
    refused = [wait_for_result(spool, f"q{k}") for k, s in states.items() if s == "failed"]
    for result in refused:
        assert "limits.queued_jobs = 3" in result["error"]["message"]
        assert "config.yaml" in result["error"]["fix"]
    assert daemon.alive()
