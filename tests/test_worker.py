"""Unit tests of runner/worker.py's spilling: a big chunk output goes to a file in the
job's folder, a small one (or one that cannot be written) through the Pool's pipe; a
worker starts no BLAS threads."""

from __future__ import annotations

import os

import pytest

from conftest import run_cli, write_numbers
from runner.checkpoint import SPILL_SUFFIX, ChunkResult, SpilledOutput
from runner.worker import SPILL_MIN_BYTES, _spill


def test_big_output_is_spilled_to_a_file_named_by_pid_and_token(tmp_path):
    text = b"1000000000039\n" * (SPILL_MIN_BYTES // 14 + 1)
    result = _spill(ChunkResult(100, 5, text), 42, str(tmp_path))
    assert (result.tested, result.found) == (100, 5)
    assert result.output == SpilledOutput(str(tmp_path / f"{os.getpid()}-42{SPILL_SUFFIX}"), len(text))
    assert (tmp_path / f"{os.getpid()}-42{SPILL_SUFFIX}").read_bytes() == text


def test_small_output_goes_through_the_pipe(tmp_path):
    small = ChunkResult(17, 14, b"17977\n")
    assert _spill(small, 1, str(tmp_path)) == small
    assert not list(tmp_path.iterdir())


def test_no_folder_or_a_gone_one_sends_the_output(tmp_path):
    text = b"7\n" * SPILL_MIN_BYTES
    result = ChunkResult(1, 1, text)
    assert _spill(result, 1, None) == result
    assert _spill(result, 1, str(tmp_path / "finished-and-moved")) == result


@pytest.mark.timeout(60)
@pytest.mark.parametrize("given, threads", [(None, 1), ("2", 2)])
def test_workers_load_numpy_with_one_blas_thread_unless_told_otherwise(
        spool, start_daemon, tmp_path, monkeypatch, given, threads):
    """A worker parses a numbers file with numpy, whose OpenBLAS would start a thread per
    core; the runner asks for one (OPENBLAS_NUM_THREADS=1), unless the environment says."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    if given is not None:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", given)
    daemon = start_daemon()
    proc = run_cli(spool, "submit", str(write_numbers(tmp_path / "n.txt", range(5000))),
                   "--processes", "2", "--chunksize", "100", "--wait")
    assert proc.returncode == 0, proc.stderr
    workers = daemon.worker_pids()
    assert len(workers) == 2
    for pid in workers:
        with open(f"/proc/{pid}/maps") as maps:
            assert "_multiarray_umath" in maps.read(), "the worker has not loaded numpy"
        with open(f"/proc/{pid}/status") as status:
            assert f"Threads:\t{threads}\n" in status.read()
