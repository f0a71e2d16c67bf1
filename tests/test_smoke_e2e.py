"""End-to-end smoke: the real daemon runs the sample-like jobs."""

import pytest

from conftest import drop_job, result_primes, wait_for_result, write_numbers

pytestmark = pytest.mark.timeout(60)


def test_case_study_numbers_file_and_range(spool, start_daemon):
    daemon = start_daemon()
    write_numbers(spool.root / "thousand.numbers", range(1, 1001))
    drop_job(spool, "a.yaml", {"id": "cs", "numbers": [17977, 10619863, 106198]})
    drop_job(spool, "b.yaml", {"numbers_file": "thousand.numbers", "pool": {"chunksize": 100}})
    drop_job(spool, "c.yaml", {"range": {"start": 0, "stop": 100000}, "pool": {"ordered": False}})
    assert result_primes(spool, wait_for_result(spool, "cs")) == [17977, 10619863]
    assert wait_for_result(spool, "b")["primes_found"] == 168
    assert wait_for_result(spool, "c")["primes_found"] == 9592
    assert daemon.stop() == 0
