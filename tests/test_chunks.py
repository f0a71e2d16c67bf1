"""Unit tests of runner/chunks.py (planning chunks, counting a numbers file) and of the
primes task on each payload kind, checked against an independent reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runner.chunks as chunks
import runner.plan as plan
from conftest import MILLER_RABIN_EXACT_BELOW, miller_rabin
from runner.chunks import BadNumberLine, Chunk, FilePayload, NumbersPayload, RangePayload
from runner.spec import Job, PoolSettings
from runner.plan import plan_chunks, survey_numbers_file
from runner.tasks.primes import test_chunk as run_chunk

# -- an independent reference ----------------------------------------------------------



def sieve(limit: int) -> list[bool]:
    """is_prime[n] for 0 <= n < limit, by the sieve of Eratosthenes."""
    flags = [True] * max(limit, 2)
    flags[0] = flags[1] = False
    for p in range(2, int(limit ** 0.5) + 1):
        if flags[p]:
            flags[p * p::p] = [False] * len(range(p * p, limit, p))
    return flags[:limit]


SIEVE_LIMIT = 20_000
SMALL_PRIME = sieve(SIEVE_LIMIT)


# Mersenne primes: known, so the reference needs no test that is exact above 3.3e24
KNOWN_BIG_PRIMES = [2**89 - 1, 2**107 - 1, 2**127 - 1, 2**521 - 1]


def reference_is_prime(n: int) -> bool:
    """Trial division for small n, deterministic Miller-Rabin up to ~3.3e24, and above
    that a small factor or the table of known primes."""
    if n < SIEVE_LIMIT:
        return SMALL_PRIME[n]
    if n < 10**8:
        return all(n % d for d in range(2, int(n ** 0.5) + 1))
    if n >= MILLER_RABIN_EXACT_BELOW:
        if any(n % p == 0 for p in range(2, 1000) if SMALL_PRIME[p]):
            return False
        assert n in KNOWN_BIG_PRIMES, "the reference cannot tell for this number"
        return True
    return miller_rabin(n)


def expected(numbers) -> tuple[int, int, bytes]:
    numbers = list(numbers)
    primes = [n for n in numbers if reference_is_prime(n)]
    return len(numbers), len(primes), b"".join(b"%d\n" % p for p in primes)


def test_reference_agrees_with_known_facts():
    assert [n for n in range(60) if reference_is_prime(n)] == [
        2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
    assert sum(SMALL_PRIME[:10_000]) == 1229
    assert reference_is_prime(2**61 - 1) and reference_is_prime(2**64 - 59)
    assert reference_is_prime(2**64 + 13)
    assert not reference_is_prime(2**64 + 1)  # 274177 * 67280421310721
    assert 274177 * 67280421310721 == 2**64 + 1
    assert not any(reference_is_prime(n) for n in range(2**64 - 58, 2**64))
    assert not any(reference_is_prime(n) for n in range(2**64 + 1, 2**64 + 13))


# -- chunks of each kind -----------------------------------------------------------------


def make_job(chunksize: int, processes: int = 1, tapered: bool = False, total: int = 0,
             **source) -> Job:
    total = (len(source["numbers"]) if "numbers" in source else
             source["range"][1] - source["range"][0] if "range" in source else total)
    return Job(id="t", pool=PoolSettings(processes, None, "fork"), chunksize=chunksize,
               ordered=True, timeout=10.0, total=total, tapered=tapered, **source)


def held(chunk: Chunk) -> int:
    """How many numbers an inline or range chunk holds."""
    payload = chunk.payload
    return len(payload.numbers) if isinstance(payload, NumbersPayload) else \
        payload.stop - payload.start


@pytest.mark.parametrize("chunksize", [1, 7, 20, 1000])
def test_inline_numbers_chunks(tmp_path, chunksize):
    numbers = tuple(range(100, 120))
    job = make_job(chunksize, numbers=numbers)
    planned = list(plan_chunks(job, tmp_path, 64))
    assert [c.index for c in planned] == list(range(len(planned)))
    assert all(isinstance(c.payload, NumbersPayload) for c in planned)
    assert all(len(c.payload.numbers) == chunksize for c in planned[:-1])
    assert 1 <= len(planned[-1].payload.numbers) <= chunksize
    assert sum((c.payload.numbers for c in planned), ()) == numbers


def test_inline_numbers_chunks_describe(tmp_path):
    job = make_job(7, numbers=tuple(range(20)))
    planned = list(plan_chunks(job, tmp_path, 64))
    assert planned[2].describe(job) == "chunk 2 (numbers[14] to numbers[19])"


def test_no_numbers_no_chunks(tmp_path):
    assert list(plan_chunks(make_job(5, numbers=()), tmp_path, 64)) == []
    assert list(plan_chunks(make_job(5, range=(9, 9)), tmp_path, 64)) == []


@pytest.mark.parametrize("start, stop, chunksize", [
    (10, 35, 7), (0, 1, 1), (0, 5, 1), (0, 1000, 1000), (0, 999, 1000), (3, 2003, 1000),
    (2**64 - 5, 2**64 + 5, 3),
])
def test_range_chunks(tmp_path, start, stop, chunksize):
    planned = list(plan_chunks(make_job(chunksize, range=(start, stop)), tmp_path, 128))
    assert [c.index for c in planned] == list(range(len(planned)))
    assert all(isinstance(c.payload, RangePayload) for c in planned)
    assert planned[0].payload.start == start and planned[-1].payload.stop == stop
    for before, after in zip(planned, planned[1:]):
        assert before.payload.stop == after.payload.start
    assert all(c.payload.stop - c.payload.start == chunksize for c in planned[:-1])
    assert 1 <= planned[-1].payload.stop - planned[-1].payload.start <= chunksize


def test_range_chunks_describe(tmp_path):
    job = make_job(7, range=(10, 35))
    assert next(plan_chunks(job, tmp_path, 64)).describe(job) == \
        "chunk 0 (numbers 10 to 16 of the range)"


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 5000), chunksize=st.integers(1, 400), processes=st.integers(1, 8))
def test_tapered_chunks_shrink_at_the_end(total, chunksize, processes):
    """Guided self-scheduling: chunks of at most chunksize, never growing, each at most a
    1/(TAPER_SHARE * processes) share of the numbers left but never under chunksize /
    TAPER_FLOOR (the last may hold what is left); so a big job ends in chunks far smaller
    than its chunksize, for only a few more chunks."""
    job = make_job(chunksize, processes, tapered=True, total=total)
    sizes, left = [], total
    for size in plan.chunk_sizes(job):
        if left <= 0:
            break
        sizes.append(min(size, left))
        left -= size
    share, least = plan.TAPER_SHARE * processes, max(1, chunksize // plan.TAPER_FLOOR)
    assert sum(sizes) == total
    assert all(a >= b for a, b in zip(sizes, sizes[1:]))
    assert all(least <= size <= chunksize for size in sizes[:-1])
    before = total
    for size in sizes:
        assert size <= max(least, -(-before // share))
        before -= size
    if total >= 2 * share * chunksize:
        assert sizes[-1] <= max(least, chunksize // 2)
    assert len(sizes) <= -(-total // chunksize) + share * (plan.TAPER_FLOOR.bit_length() + 1)


@pytest.mark.parametrize("source", [{"numbers": tuple(range(100, 1100))},
                                    {"range": (10, 1010)}])
@pytest.mark.parametrize("processes", [1, 2, 5])
def test_tapered_inline_and_range_chunks(tmp_path, source, processes):
    job = make_job(90, processes, tapered=True, **source)
    planned = list(plan_chunks(job, tmp_path, 64))
    sizes = [held(c) for c in planned]
    expected = [size for size, _ in zip(plan.chunk_sizes(job), planned)]
    assert sizes[:-1] == expected[:-1] and 0 < sizes[-1] <= expected[-1]
    assert sizes[0] == 90 and sizes[-2] < 90 and sum(sizes) == 1000
    first = planned[0].payload
    if "numbers" in source:
        assert sum((c.payload.numbers for c in planned), ()) == source["numbers"]
    else:
        assert first.start == 10 and planned[-1].payload.stop == 1010
        assert all(a.payload.stop == b.payload.start for a, b in zip(planned, planned[1:]))
    assert list(plan_chunks(job, tmp_path, 64)) == planned  # a resumed job is cut the same


def test_plan_chunks_is_lazy(tmp_path):
    planned = plan_chunks(make_job(1, range=(0, 10**15)), tmp_path, 64)
    assert next(planned) == Chunk(0, RangePayload(0, 1))
    assert next(planned) == Chunk(1, RangePayload(1, 2))


# -- numbers files -------------------------------------------------------------------------


def reference_lines(content: bytes) -> list[tuple[int, int]]:
    """(line number, number) of each number of a valid numbers file."""
    out = []
    for line_number, raw in enumerate(content.split(b"\n"), start=1):
        text = raw.split(b"#", 1)[0].strip()
        if text:
            assert text.isdigit(), text
            out.append((line_number, int(text)))
    return out


FILES = {
    "trailing newline": b"".join(b"%d\n" % n for n in range(1, 101)),
    "no trailing newline": b"\n".join(b"%d" % n for n in range(1, 101)),
    "comments and blanks": (b"# primes and not\n\n2\n3  # a prime\n   \n4\n# 5\n\t6\t\n\n\n"
                            + b"".join(b"%d\n" % n for n in range(7, 60)) + b"  # end\n61"),
    "crlf": b"".join(b"%d\r\n" % n for n in range(2, 80)),
    "one line": b"97",
    "one line with newline": b"97\n",
    "only comments": b"# nothing\n\n# here\n",
    "empty": b"",
    "leading zeros": b"007\n0011\n0\n00\n",
    "big numbers": b"".join(b"%d\n" % n for n in (2**61 - 1, 2**64 - 59, 2**64 - 1, 2**64,
                                                 2**64 + 1, 2**64 + 13, 2**89 - 1, 10**30)),
    "long lines": b"".join(b"%s%d   # %s\n" % (b" " * 30, n, b"x" * 90) for n in range(100, 140)),
}


# the modules that read each reading constant: the workers' reading and the plan's
READING_CONSTANTS = {"READ_BLOCK_BYTES": ("runner.numbers", "runner.plan"),
                     "BYTES_CHECK_MAX": ("runner.chunks",)}


def set_both(monkeypatch, name: str, value: int) -> None:
    """Set a reading constant for the workers' reading and the plan's."""
    for module in READING_CONSTANTS[name]:
        monkeypatch.setattr(f"{module}.{name}", value)


def file_job(root: Path, content: bytes, chunksize: int, **cutting) -> Job:
    (root / "n.txt").write_bytes(content)
    total = len(reference_lines(content)) if cutting.get("tapered") else 0  # what it cuts by
    return make_job(chunksize, numbers_file="n.txt", total=total, **cutting)


def check_file_chunks(root: Path, content: bytes, chunksize: int, max_bits: int = 4096,
                      **cutting) -> None:
    """The chunks of the file cover every line that holds a number exactly once, in order,
    each run of `chunksize` numbers, or as many as plan.chunk_sizes says for a tapered job
    (`cutting`: processes, tapered; blank lines and comments count for nothing), and the
    task reads exactly the file's numbers from them."""
    job = file_job(root, content, chunksize, **cutting)
    sizes = plan.chunk_sizes(job)
    planned = list(plan_chunks(job, root, max_bits))
    assert [c.index for c in planned] == list(range(len(planned)))
    payloads = [c.payload for c in planned]
    assert all(isinstance(p, FilePayload) for p in payloads)
    assert all(p.path == str(root / "n.txt") and p.max_bits == max_bits for p in payloads)
    # bytes: contiguous, from 0 to the end, none empty
    position, line = 0, 1
    for p in payloads:
        assert p.start_byte == position
        assert p.stop_byte > p.start_byte
        assert p.first_line == line
        piece = content[p.start_byte:p.stop_byte]
        held = len(reference_lines(piece))
        size = next(sizes)
        if p is not payloads[-1]:
            assert held == size and piece.endswith(b"\n")
        else:  # the last chunk: at most `size` numbers, the last maybe without "\n"
            assert 0 < held <= size or len(payloads) == 1
        position, line = p.stop_byte, line + piece.count(b"\n")
    assert reference_lines(content[position:]) == []  # past the last chunk: no number
    # the numbers the workers read are the file's numbers, in order
    numbers = [n for _, n in reference_lines(content)]
    read, primes_text, total_primes = [], b"", 0
    for p in payloads:
        tested, found, text = run_chunk(p)
        lines = reference_lines(content[p.start_byte:p.stop_byte])
        read.extend(n for _, n in lines)
        assert tested == len(lines)
        primes_text += text
        total_primes += found
    assert read == numbers
    assert (len(numbers), total_primes, primes_text) == expected(numbers)
    assert survey_numbers_file(root / "n.txt").count == len(numbers)


@pytest.mark.parametrize("chunksize", [1, 7, 1000])
@pytest.mark.parametrize("name", sorted(FILES))
def test_file_chunks_cover_every_line_once(tmp_path, name, chunksize):
    check_file_chunks(tmp_path, FILES[name], chunksize)


@pytest.mark.parametrize("bytes_check_max", [0, chunks.BYTES_CHECK_MAX])  # numpy, bytes
@pytest.mark.parametrize("block", [1, 2, 3, 5, 64])
@pytest.mark.parametrize("chunksize", [1, 7, 1000])
@pytest.mark.parametrize("name", sorted(FILES))
def test_file_chunks_across_read_blocks(tmp_path, monkeypatch, name, chunksize, block,
                                        bytes_check_max):
    set_both(monkeypatch, "READ_BLOCK_BYTES", block)
    set_both(monkeypatch, "BYTES_CHECK_MAX", bytes_check_max)
    check_file_chunks(tmp_path, FILES[name], chunksize)


@pytest.mark.parametrize("tapered", [False, True])
@pytest.mark.parametrize("chunksize", [1, 7, 64, 1000])
def test_file_much_bigger_than_a_read_block(tmp_path, monkeypatch, chunksize, tapered):
    set_both(monkeypatch, "READ_BLOCK_BYTES", 64)
    content = b"".join(b"%d\n" % n if n % 5 else b"%d # five\n\n" % n for n in range(3000))
    assert len(content) > 100 * 64
    check_file_chunks(tmp_path, content, chunksize, tapered=tapered, processes=2)


def test_line_longer_than_a_read_block(tmp_path, monkeypatch):
    set_both(monkeypatch, "READ_BLOCK_BYTES", 64)
    content = b"1\n" + b" " * 500 + b"7 # " + b"z" * 300 + b"\n11\n" + b"9" * 200 + b"\n13"
    check_file_chunks(tmp_path, content, 2, max_bits=1000)


def test_count_numbers_in_file_default_block(tmp_path):
    content = b"# head\n" + b"".join(b"%d\n\n" % n for n in range(10_000)) + b"7"
    (tmp_path / "n.txt").write_bytes(content)
    assert survey_numbers_file(tmp_path / "n.txt").count == 10_001


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(
           st.integers(min_value=0, max_value=2**70).map(lambda n: b"%d" % n),
           st.sampled_from([b"", b"   ", b"\t", b"# c", b"  5  # x", b"08", b"#", b"\r"]),
           st.integers(0, 99).map(lambda n: b" %d\r" % n)), max_size=60),
       newline_at_end=st.booleans(), chunksize=st.integers(1, 12), block=st.integers(1, 40),
       bytes_check_max=st.sampled_from([0, chunks.BYTES_CHECK_MAX]),
       tapered=st.booleans(), processes=st.integers(1, 3))
def test_file_chunks_property(tmp_path, monkeypatch, lines, newline_at_end, chunksize, block,
                              bytes_check_max, tapered, processes):
    set_both(monkeypatch, "READ_BLOCK_BYTES", block)
    set_both(monkeypatch, "BYTES_CHECK_MAX", bytes_check_max)  # numpy or bytes methods
    content = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    check_file_chunks(tmp_path, content, chunksize, tapered=tapered, processes=processes)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(st.integers(min_value=0, max_value=2**70).map(lambda n: b"%d" % n),
                                st.just(b"")), max_size=60),
       newline_at_end=st.booleans(), block=st.integers(1, 40))
def test_plain_file_counted_in_numpy_as_by_pattern(tmp_path, monkeypatch, lines, newline_at_end,
                                                   block):
    """Digits and empty lines only: the numpy count runs (not the fallback) and agrees."""
    set_both(monkeypatch, "READ_BLOCK_BYTES", block)
    content = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    (tmp_path / "n.txt").write_bytes(content)
    numbers = sum(1 for line in lines if line)
    assert plan._survey_plain_lines(tmp_path / "n.txt").count == numbers
    assert plan._survey_plain_lines(tmp_path / "n.txt") == plan._survey_by_pattern(tmp_path / "n.txt")


def test_a_line_too_long_for_the_table_of_lengths_is_counted_all_the_same(tmp_path):
    long = b"9" * (plan._COUNTED_LENGTH_MAX + 5)
    (tmp_path / "n.txt").write_bytes(b"17\n" + long + b"\n\n13\n" + long + b"\n")
    survey = plan._survey_plain_lines(tmp_path / "n.txt")
    assert (survey.count, survey.lengths) == (4, {2: 2, len(long): 2})


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=40),
                         st.text(alphabet="0123456789\n \t#\r", max_size=40).map(str.encode)))
def test_a_numbers_file_holds_at_most_one_number_in_two_bytes(tmp_path, content):
    """What lets `runner submit` know that a file under 200 MB holds no more numbers than
    the default limits.numbers without counting them (submission._within_default_count)."""
    (tmp_path / "n.txt").write_bytes(content)
    assert survey_numbers_file(tmp_path / "n.txt").count <= (len(content) + 1) // 2


def test_blanks_and_comments_fall_back_to_the_pattern(tmp_path):
    for content in (b"5\n \n7\n", b"5\n# c\n", b"5\r\n7\r\n", b"5\t\n", b"-5\n"):
        (tmp_path / "n.txt").write_bytes(content)
        assert plan._survey_plain_lines(tmp_path / "n.txt") is None
        assert survey_numbers_file(tmp_path / "n.txt").count == \
            len([line for line in content.split(b"\n") if line.split(b"#")[0].strip()])


def test_count_agrees_with_what_the_task_reads(tmp_path):
    """count_numbers_in_file is the job's total: it must count what the workers test.
    A line of only a vertical tab or form feed is blank to the reader (bytes.strip),
    so it must not be counted as a number either."""
    content = b"5\n\x0b\n7\n\x0c\n11\n"
    job = file_job(tmp_path, content, 1000)
    tested = sum(run_chunk(c.payload)[0] for c in plan_chunks(job, tmp_path, 64))
    assert tested == 3
    assert survey_numbers_file(tmp_path / "n.txt").count == tested


# -- the primes task, payload by payload ----------------------------------------------------

CARMICHAEL = [561, 1105, 1729, 2465, 2821, 6601, 8911]
STRONG_PSEUDOPRIMES_BASE_2 = [2047, 3277, 4033, 4681, 8321]
EDGES = ([0, 1, 2, 3, 4, 5, 9, 25, 49, 121, 169, 289, 361, 529, 841, 961, 63, 64, 65]
         + CARMICHAEL + STRONG_PSEUDOPRIMES_BASE_2
         + [p * p for p in (101, 65521, 4294967291)]
         + [2**31 - 1, 2**32 - 5, 2**32 + 15, 2**61 - 1, 2**61 + 1, 2**62 - 57,
            3215031751, 3825123056546413051, 318665857834031151167461])
AROUND_2_64 = list(range(2**64 - 70, 2**64 + 30))


def test_pseudoprimes_are_not_primes():
    tested, found, text = run_chunk(NumbersPayload(tuple(CARMICHAEL + STRONG_PSEUDOPRIMES_BASE_2)))
    assert (tested, found, text) == (12, 0, b"")


def test_numbers_payload_edges():
    assert run_chunk(NumbersPayload(tuple(EDGES))) == expected(EDGES)


def test_numbers_payload_around_2_64():
    assert run_chunk(NumbersPayload(tuple(AROUND_2_64))) == expected(AROUND_2_64)
    _, found, text = run_chunk(NumbersPayload(tuple(AROUND_2_64)))
    assert text == b"%d\n%d\n" % (2**64 - 59, 2**64 + 13)


def test_numbers_payload_keeps_input_order_and_duplicates():
    numbers = (97, 4, 2, 97, 2**64 + 13, 1, 3, 2**61 - 1, 3, 0)
    assert run_chunk(NumbersPayload(numbers)) == (
        10, 7, b"97\n2\n97\n18446744073709551629\n3\n2305843009213693951\n3\n")


@pytest.mark.parametrize("numbers", [
    (), (0,), (1,), (2,), (2**64 - 1,), (2**64,), (2**64 - 59,),
    tuple(range(0, 3000)), tuple(range(2**64 - 1000, 2**64 - 1)),
])
def test_numbers_payload_against_reference(numbers):
    assert run_chunk(NumbersPayload(numbers)) == expected(numbers)


def test_known_big_primes():
    numbers = tuple(KNOWN_BIG_PRIMES + [p + 2 for p in KNOWN_BIG_PRIMES])
    assert all(n % 3 == 0 or n % 5 == 0 or n % 7 == 0 for n in numbers[4:])  # composites
    tested, found, text = run_chunk(NumbersPayload(numbers))
    assert (tested, found) == (8, 4)
    assert text == b"".join(b"%d\n" % p for p in KNOWN_BIG_PRIMES)


@pytest.mark.parametrize("start, stop", [
    (0, 0), (0, 1), (0, 2), (0, 3), (1, 4), (0, SIEVE_LIMIT), (7919, 7920), (8910, 8912),
    (2**32 - 100, 2**32 + 100), (2**61 - 20, 2**61 + 5), (2**64 - 70, 2**64),
    (2**64 - 70, 2**64 + 30), (2**64, 2**64 + 14), (2**64 - 59, 2**64 - 58),
])
def test_range_payload_against_reference(start, stop):
    assert run_chunk(RangePayload(start, stop)) == expected(range(start, stop))


def test_file_payload_against_reference(tmp_path):
    numbers = EDGES + AROUND_2_64 + list(range(0, 500))
    content = b"".join(b"%d\n" % n for n in numbers)
    path = tmp_path / "n.txt"
    path.write_bytes(content)
    assert run_chunk(FilePayload(str(path), 0, len(content), 1, 4096)) == expected(numbers)


@pytest.mark.parametrize("numbers", [
    [2**63 - 25, 2**63, 2**63 + 29, 2**64 - 59, 2**64 - 2, 10**19 - 1, 10**19 + 51, 2, 3, 0, 1],
    [2**64 - 59, 2**64 - 1],  # 2^64 - 1: where numpy's parser saturates, so read exactly
    [17, 2**64, 2**64 + 13],  # over 2^64: read exactly, tested with Miller-Rabin added
    list(range(2**32 - 500, 2**32 + 500)) + STRONG_PSEUDOPRIMES_BASE_2 + CARMICHAEL,
])
@pytest.mark.parametrize("newline_at_end", [True, False])
def test_file_payload_near_the_fast_parser_edges(tmp_path, numbers, newline_at_end):
    """Plain lines of digits below 2^64 - 1 are parsed by numpy in C; these are the
    numbers where that parser could go wrong (2^63, 2^64 - 1, 20 digits, over 2^64)."""
    content = b"\n".join(b"%d" % n for n in numbers) + (b"\n" if newline_at_end else b"")
    path = tmp_path / "n.txt"
    path.write_bytes(content)
    assert run_chunk(FilePayload(str(path), 0, len(content), 1, 4096)) == expected(numbers)


def test_file_payload_filter_keeps_small_primes_and_drops_their_multiples(tmp_path):
    """The numpy filter by the primes below 128: they themselves are prime, their
    multiples (up to near 2^64) are not, and their neighbours are left to the exact test."""
    small = [p for p in range(128) if SMALL_PRIME[p]]
    big = [2**61 - 1, 2**64 - 59, 4294967291]
    numbers = small + [p * q for p in small for q in big if p * q < 2**64 - 1]
    numbers += [n + d for n in numbers[-40:] for d in (-2, 2)]
    content = b"".join(b"%d\n" % n for n in numbers)
    path = tmp_path / "n.txt"
    path.write_bytes(content)
    assert run_chunk(FilePayload(str(path), 0, len(content), 1, 4096)) == expected(numbers)


def test_file_payload_with_leading_zeros(tmp_path):
    content = b"0007\n" + b"0" * 30 + b"18446744073709551557\n0\n"
    path = tmp_path / "n.txt"
    path.write_bytes(content)
    assert run_chunk(FilePayload(str(path), 0, len(content), 1, 64)) == (
        3, 2, b"7\n18446744073709551557\n")


def test_file_payload_reads_only_its_byte_range(tmp_path):
    content = b"4\n5\n6\n7\nnot a number\n"
    path = tmp_path / "n.txt"
    path.write_bytes(content)
    assert run_chunk(FilePayload(str(path), 2, 8, 2, 64)) == (3, 2, b"5\n7\n")


# -- bad lines of a numbers file --------------------------------------------------------------


@pytest.mark.parametrize("bad, what", [
    (b"abc", "not a plain decimal integer"),
    (b"-5", "is negative"),
    (b"1.5", "not a plain decimal integer"),
    (b"0x1f", "not a plain decimal integer"),
    (b"1_000", "not a plain decimal integer"),
    (b"+5", "not a plain decimal integer"),
    (b"1 2", "not a plain decimal integer"),
    (b"1e5", "not a plain decimal integer"),
    ("\uff11\uff12".encode(), "not a plain decimal integer"),  # fullwidth digits
    (b"\xff\xfe", "not a plain decimal integer"),
    (b"12 ; 13", "not a plain decimal integer"),
])
@pytest.mark.parametrize("block", [3, 16, 1 << 20])  # a chunk read in pieces, or whole
@pytest.mark.parametrize("chunksize", [1, 4, 1000])
def test_bad_line_has_its_line_number(tmp_path, monkeypatch, bad, what, chunksize, block):
    set_both(monkeypatch, "READ_BLOCK_BYTES", block)
    lines = [b"%d" % n for n in range(10)] + [b"# comment", b"", b"  " + bad + b"  # why", b"3"]
    content = b"\n".join(lines) + b"\n"
    job = file_job(tmp_path, content, chunksize)
    errors = []
    for chunk in plan_chunks(job, tmp_path, 64):
        try:
            run_chunk(chunk.payload)
        except BadNumberLine as error:
            errors.append(error)
    assert len(errors) == 1
    error = errors[0]
    assert error.line == 13
    assert what in error.what
    assert str(error).startswith("line 13: ")


def test_file_chunk_is_read_in_pieces(tmp_path, monkeypatch):
    """A chunk of a numbers file reaches the task in pieces of about READ_BLOCK_BYTES, each
    ending at a line's end, so a worker's memory does not grow with the chunksize."""
    set_both(monkeypatch, "READ_BLOCK_BYTES", 10)
    content = b"".join(b"%d\n" % n for n in range(1000)) + b"7" * 25 + b"\n5"
    payload = next(plan_chunks(file_job(tmp_path, content, 10**6), tmp_path, 4096)).payload
    pieces = list(chunks.read_pieces(payload))
    assert b"".join(piece.text for piece in pieces) == content
    # a piece is what is left of one block and the lines ending in the next
    assert all(len(piece.text) <= 2 * 10 for piece in pieces if b"7" * 25 not in piece.text)
    assert all(piece.text.endswith(b"\n") for piece in pieces[:-1])
    assert [piece.first_line for piece in pieces] == \
        [1 + b"".join(p.text for p in pieces[:k]).count(b"\n") for k in range(len(pieces))]
    assert run_chunk(payload) == expected(list(range(1000)) + [int(b"7" * 25), 5])


def test_file_cut_short_gives_what_it_has(tmp_path, monkeypatch):
    set_both(monkeypatch, "READ_BLOCK_BYTES", 4)
    (tmp_path / "n.txt").write_bytes(b"2\n3\n123456789")
    pieces = list(chunks.read_pieces(FilePayload(str(tmp_path / "n.txt"), 0, 100, 1, 64)))
    assert b"".join(piece.text for piece in pieces) == b"2\n3\n123456789"


def test_number_over_the_bit_limit(tmp_path):
    content = b"1\n255\n256\n"
    job = file_job(tmp_path, content, 1000)
    with pytest.raises(BadNumberLine) as info:
        run_chunk(next(plan_chunks(job, tmp_path, 8)).payload)
    assert info.value.line == 3
    assert "9 bits, over limits.number_bits = 8" in info.value.what


def test_number_with_many_digits_over_the_bit_limit(tmp_path):
    """5000 digits is about 16610 bits, over limits.number_bits = 4096: a BadNumberLine,
    not Python's int-from-string digit limit (ValueError)."""
    content = b"3\n" + b"9" * 5000 + b"\n"
    job = file_job(tmp_path, content, 1000)
    with pytest.raises(BadNumberLine) as info:
        run_chunk(next(plan_chunks(job, tmp_path, 4096)).payload)
    assert info.value.line == 2
    assert "over limits.number_bits = 4096" in info.value.what


def test_number_with_many_digits_within_a_raised_bit_limit(tmp_path):
    """With limits.number_bits raised to 20000, a 5000-digit number is valid."""
    big = 10**4999 + 1
    content = b"3\n1" + b"0" * 4998 + b"1\n"  # big, written out without str(int)
    job = file_job(tmp_path, content, 1000)
    tested, _, _ = run_chunk(next(plan_chunks(job, tmp_path, 20000)).payload)
    assert tested == 2
    assert big.bit_length() < 20000


@pytest.mark.parametrize("content", [b"2\r3\r5\r", b"2\r3\n", b"7\n11\r13\n"])
def test_lone_carriage_return_is_not_a_line_break(tmp_path, content):
    """Lines end with \\n (a \\r before it is tolerated): "2\\r3" is one line that is not a
    number, and the count of numbers must agree with what the task reads."""
    job = file_job(tmp_path, content, 1000)
    with pytest.raises(BadNumberLine) as info:
        for chunk in plan_chunks(job, tmp_path, 64):
            run_chunk(chunk.payload)
    assert info.value.line == content[:content.index(b"\r")].count(b"\n") + 1


@pytest.mark.parametrize("check_in_bytes_max", [0, plan.CHECK_IN_BYTES_MAX])  # numpy, bytes
@pytest.mark.parametrize("block_bytes", [1, 2, 3, 1 << 20])
@pytest.mark.parametrize("content, plain", [
    (b"1\n2\n3\n", True), (b"1\n2\n3", True), (b"", True), (b"1234\n1\n", True),
    (b"123\n4567\n89", True),
    (b"1\n\n3\n", False), (b"\n1\n", False), (b"12345\n", False), (b"1\n12345", False),
    (b"1 \n", False), (b"#1\n", False), (b"1:\n", False), (b"-1\n", False),
    (b"12\n34\n\n", False), (b"1234\n\n", False), (b"12\n3x", False), (b"\n", False),
])
def test_a_file_of_short_digit_lines_is_told_in_one_pass(tmp_path, monkeypatch, content, plain,
                                                         block_bytes, check_in_bytes_max):
    """What lets `runner submit` skip parsing a plain numbers file: lines of at most 4
    digits here, nothing else, whatever the blocks it is read in, in numpy or in bytes."""
    set_both(monkeypatch, "READ_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(plan, "CHECK_IN_BYTES_MAX", check_in_bytes_max)
    path = tmp_path / "n.txt"
    path.write_bytes(content)
    assert plan.holds_only_short_digit_lines(path, 4) is plain
