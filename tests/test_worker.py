"""Unit tests of runner/worker.py's spilling: a big chunk output goes to a file in the
job's folder, a small one (or one that cannot be written) through the Pool's pipe."""

from __future__ import annotations

import os

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
