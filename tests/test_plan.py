"""Unit tests of the cost plan (runner/plan.py): a job whose task says what its numbers
cost gets chunks cut by each number's length, checked against a plain Python reference
across read blocks of every size, and the survey that feeds it."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runner.plan as plan
from runner.chunks import FilePayload, NumbersPayload
from runner.config import load_config
from runner.spec import Job, PoolSettings
from runner.jobfile import parse_job
from runner.plan import COST_UNIT, plan_chunks, survey_numbers_file
from runner.tasks.builtin import factor_worst_seconds


def cost_job(chunksize: int, caps: dict[int, int], **source) -> Job:
    total = len(source["numbers"]) if "numbers" in source else 0
    return Job(id="t", pool=PoolSettings(1, None, "fork"), chunksize=chunksize, ordered=True,
               timeout=10.0, total=total, chunk_caps=tuple(sorted(caps.items())) or None,
               **source)


def reference_cut(lengths: list[int], chunksize: int, caps: dict[int, int]) -> list[int]:
    """How many numbers each chunk gets, by a plain loop: a number of `d` digits weighs
    1/caps[d] of a chunk (1/chunksize if d has no cap; the longest cap's for any longer),
    rounded down in COST_UNITs; a chunk holds at most COST_UNIT and chunksize numbers."""
    longest = max(caps)
    sizes, spent, held = [], 0, 0
    for length in lengths:
        weight = COST_UNIT // caps.get(min(length, longest), chunksize)
        if held and (spent + weight > COST_UNIT or held == chunksize):
            sizes.append(held)
            spent = held = 0
        spent += weight
        held += 1
    return sizes + ([held] if held else [])


def token_lengths(content: bytes) -> list[int]:
    """The length of each number of a valid numbers file, as written (leading zeros too)."""
    tokens = (raw.split(b"#", 1)[0].strip() for raw in content.split(b"\n"))
    return [len(token) for token in tokens if token]


LINES = st.lists(st.one_of(
    st.integers(min_value=0, max_value=2**200).map(lambda n: b"%d" % n),
    st.integers(min_value=0, max_value=999).map(lambda n: b"00%d" % n),
    st.sampled_from([b"", b"   ", b"\t", b"# c", b"# 12345678", b"  5  # 99", b"#", b"\r"]),
    st.integers(0, 10**30).map(lambda n: b" %d\r" % n),
    st.integers(0, 99).map(lambda n: b"%d # 1234567 #8" % n)), max_size=80)
CAPS = st.dictionaries(st.one_of(st.integers(1, 4), st.integers(1, 61)), st.integers(1, 6),
                       min_size=1, max_size=8)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES, newline_at_end=st.booleans(), block=st.integers(1, 50),
       chunksize=st.integers(1, 9), caps=CAPS)
def test_a_file_is_cut_by_cost_as_the_reference_cuts_it(tmp_path, monkeypatch, lines,
                                                        newline_at_end, block, chunksize, caps):
    """Whatever the read blocks (a number, a comment, a \\r split between two), every
    number is in exactly one chunk, in order, and the chunks hold what the reference
    gives; the survey counts the same lengths."""
    monkeypatch.setattr("runner.numbers.READ_BLOCK_BYTES", block)
    monkeypatch.setattr(plan, "READ_BLOCK_BYTES", block)
    content = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    (tmp_path / "n.txt").write_bytes(content)
    job = cost_job(chunksize, caps, numbers_file="n.txt")
    payloads = [c.payload for c in plan_chunks(job, tmp_path, 4096)]
    assert all(isinstance(p, FilePayload) for p in payloads)
    assert [p.start_byte for p in payloads[1:]] == [p.stop_byte for p in payloads[:-1]]
    held = [len(token_lengths(content[p.start_byte:p.stop_byte])) for p in payloads]
    lengths = token_lengths(content)
    if lengths:
        assert payloads[0].start_byte == 0 and payloads[-1].stop_byte == len(content)
        assert held == reference_cut(lengths, chunksize, caps)
    else:
        assert sum(held) == 0
    survey = survey_numbers_file(tmp_path / "n.txt")
    assert (survey.count, survey.lengths) == (len(lengths), dict(Counter(lengths)))


@settings(max_examples=100, deadline=None)
@given(numbers=st.lists(st.integers(0, 2**150), max_size=60), chunksize=st.integers(1, 9),
       caps=st.dictionaries(st.integers(1, 46), st.integers(1, 6), min_size=1, max_size=8))
def test_inline_numbers_are_cut_by_cost_as_the_reference_cuts_them(numbers, chunksize, caps):
    job = cost_job(chunksize, caps, numbers=tuple(numbers))
    planned = list(plan_chunks(job, Path("/nonexistent"), 4096))
    assert all(isinstance(c.payload, NumbersPayload) for c in planned)
    assert [c.payload.first for c in planned] == \
        [sum(len(c.payload.numbers) for c in planned[:i]) for i in range(len(planned))]
    assert sum((c.payload.numbers for c in planned), ()) == tuple(numbers)
    assert [len(c.payload.numbers) for c in planned] == \
        (reference_cut([len(str(n)) for n in numbers], chunksize, caps) if numbers else [])


def test_numbers_of_one_length_get_chunks_of_their_cap(tmp_path):
    (tmp_path / "n.txt").write_bytes(b"123\n" * 100)
    job = cost_job(50, {3: 7}, numbers_file="n.txt")
    sizes = [len(token_lengths((tmp_path / "n.txt").read_bytes()[c.payload.start_byte:
                                                                  c.payload.stop_byte]))
             for c in plan_chunks(job, tmp_path, 64)]
    assert sizes == [7] * 14 + [2]


def test_inline_chunks_are_described_by_where_they_start(tmp_path):
    job = cost_job(5, {3: 2}, numbers=(1, 2, 300, 400, 500, 6, 7))
    planned = list(plan_chunks(job, tmp_path, 64))
    # 1/5 + 1/5 + 1/2, then 1/2 + 1/2, then 1/5 + 1/5: no chunk over a whole
    assert [c.payload.numbers for c in planned] == [(1, 2, 300), (400, 500), (6, 7)]
    assert planned[1].describe(job) == "chunk 1 (numbers[3] to numbers[4])"


def test_a_factor_job_of_mixed_sizes_gets_chunks_by_each_numbers_cost(tmp_path):
    """20,000 64-bit numbers and 20 200-bit ones, shuffled: the 200-bit numbers (seconds
    each at worst) get a chunk each and the others chunks of about 0.5 s at worst, where
    judging every number by the biggest gave 20,020 chunks of one."""
    rng = random.Random(7)
    numbers = [rng.getrandbits(64) | 1 << 63 for _ in range(20_000)] + \
        [rng.getrandbits(200) | 1 << 199 for _ in range(20)]
    rng.shuffle(numbers)
    (tmp_path / "config.yaml").write_text("max_processes: 2\n")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "n.txt").write_text("".join(f"{n}\n" for n in numbers))
    job = parse_job(b"task: factor\nnumbers_file: n.txt\n", tmp_path, load_config(tmp_path),
                    "j.yaml")
    worst, held = [], []
    for chunk in plan_chunks(job, tmp_path, 4096):
        text = (tmp_path / "n.txt").read_bytes()[chunk.payload.start_byte:chunk.payload.stop_byte]
        worst.append(sum(factor_worst_seconds(int(len(n) * 3.33)) for n in text.split()))
        held.append(len(text.split()))
    assert sum(worst) == pytest.approx(sum(factor_worst_seconds(int(len(str(n)) * 3.33))
                                           for n in numbers))
    assert 20 + 20_000 * 0.0006 / 0.5 <= len(worst) <= 20 + 2 * 20_000 * 0.00068 / 0.5 + 2
    assert all(seconds <= 0.5 or count == 1 for seconds, count in zip(worst, held))
    assert held.count(1) == 20
