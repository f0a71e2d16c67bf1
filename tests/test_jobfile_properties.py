"""Property tests of `load_job`: whatever the file holds, the answer is a Job or a JobError.

Job files come from people and scripts; nothing in one may crash the loader with
any other exception (the daemon would report "internal error, report this as a
bug" instead of telling the person what to fix).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runner.config import Config, Limits
from runner.errors import JobError
from runner.job import JOB_ID_PATTERN
from runner.spec import Job
from runner.jobfile import load_job
from runner.spool import Spool

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

CONFIGS = [
    Config(max_processes=2),
    Config(max_processes=4, limits=Limits(job_file_bytes=2048, numbers=20, number_bits=64,
                                          range_length=1000, processes_per_job=3,
                                          chunksize=50, timeout=60)),
]

JOB_KEYS = ["id", "numbers", "numbers_file", "range", "pool", "timeout"]
POOL_KEYS = ["processes", "chunksize", "maxtasksperchild", "start_method", "ordered"]
FILES = ["n.txt", "empty.txt", "sub/m.txt", "sub", "missing.txt", "link.txt", "../n.txt", "/etc/passwd"]

# up to ~6000 digits: past Python's 4300-digit limit for str <-> int (see `dump`)
huge_ints = st.integers(min_value=-(2**20000), max_value=2**20000)
ints = st.one_of(st.integers(min_value=-3, max_value=300), st.integers(), huge_ints)
scalars = st.one_of(st.none(), st.booleans(), ints, st.floats(), st.text(max_size=12),
                    st.sampled_from(["fork", "spawn", "forkserver", "forked", "0x1f", "017",
                                     "10:20", "1_000", "yes", "~", "a/b", "my job", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12)
keys = st.one_of(st.sampled_from(JOB_KEYS), st.text(max_size=10), st.integers(), st.none(),
                 st.booleans())


ID_CHARS = st.sampled_from("abcXYZ019._- /\t!é")
pool_fields = st.fixed_dictionaries({}, optional={
    "processes": st.integers(min_value=-1, max_value=6),
    "chunksize": st.integers(min_value=-1, max_value=100),
    "maxtasksperchild": st.integers(min_value=0, max_value=3),
    "start_method": st.sampled_from(["fork", "spawn", "forkserver", "Fork"]),
    "ordered": st.booleans()})


@st.composite
def well_formed_jobs(draw) -> dict:
    """Jobs that are mostly right: the right keys and types, values near the limits."""
    job: dict = {}
    source = draw(st.sampled_from(["numbers", "numbers_file", "range"]))
    if source == "numbers":
        job["numbers"] = draw(st.lists(st.one_of(st.integers(min_value=0, max_value=2**70),
                                                 st.integers(min_value=-2, max_value=2**5000)),
                                       max_size=25))
    elif source == "numbers_file":
        job["numbers_file"] = draw(st.one_of(st.sampled_from(FILES), st.text(max_size=12)))
    else:
        start = draw(st.integers(min_value=-2, max_value=2**65))
        job["range"] = {"start": start, "stop": start + draw(st.integers(-2, 2000))}
    if draw(st.booleans()):
        job["pool"] = draw(pool_fields)
    if draw(st.booleans()):
        job["timeout"] = draw(st.one_of(st.integers(min_value=-1, max_value=5000),
                                        st.floats(min_value=-1, max_value=5000)))
    if draw(st.booleans()):
        job["id"] = draw(st.text(ID_CHARS, max_size=70))
    return job


@st.composite
def chaotic_jobs(draw) -> dict:
    """Any keys, any values of any type, huge numbers."""
    job: dict = {}
    source = draw(st.sampled_from(["numbers", "numbers_file", "range", "none", "two"]))
    if source in ("numbers", "two"):
        job["numbers"] = draw(st.one_of(st.lists(ints, max_size=30), values))
    if source in ("numbers_file", "two"):
        job["numbers_file"] = draw(st.one_of(st.sampled_from(FILES), st.text(max_size=20), values))
    if source == "range":
        job["range"] = draw(st.one_of(
            st.fixed_dictionaries({"start": ints, "stop": ints}),
            st.dictionaries(st.sampled_from(["start", "stop", "step", "strat"]), ints, max_size=3),
            values))
    if draw(st.booleans()):
        job["pool"] = draw(st.one_of(
            st.dictionaries(st.one_of(st.sampled_from(POOL_KEYS), st.text(max_size=10)), values,
                            max_size=4),
            pool_fields, values))
    if draw(st.booleans()):
        job["timeout"] = draw(values)
    if draw(st.booleans()):
        job["id"] = draw(st.one_of(st.text(max_size=70), values))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        job[draw(keys)] = draw(values)
    return job


job_mappings = st.one_of(well_formed_jobs(), chaotic_jobs())


@contextmanager
def any_int_digits():
    """Let str() write ints of any size while dumping (the loader runs with the default
    limit, as the daemon does)."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(before)


def dump(data: dict) -> bytes:
    with any_int_digits():
        return yaml.safe_dump(data, allow_unicode=True).encode()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = Spool.create(tmp_path_factory.mktemp("props") / "spool").root
    (root / "n.txt").write_text("2\n3\n# c\n\n4\n")
    (root / "empty.txt").write_text("")
    (root / "sub").mkdir()
    (root / "sub" / "m.txt").write_text("5\n")
    (root / "link.txt").symlink_to("n.txt")
    return root


def check(root: Path, raw: bytes, config: Config):
    """Load `raw` as jobs/job.yaml: a Job, or a JobError with a message, nothing else."""
    path = root / "jobs" / "job.yaml"
    path.write_bytes(raw)
    try:
        job = load_job(path, root, config)
    except JobError as error:
        assert error.what
        assert str(error).startswith("jobs/job.yaml: ") or str(error).startswith("jobs/job.yaml, ")
        return error
    assert isinstance(job, Job)
    return job


@SETTINGS
@given(data=job_mappings, config=st.sampled_from(CONFIGS))
@example(data={"numbers": [2**17000]}, config=CONFIGS[0])  # 5118 digits
@example(data={"numbers": [1], "pool": {"processes": 10**5000}}, config=CONFIGS[0])
@example(data={"numbers_file": "n.txt\x00"}, config=CONFIGS[0])
@example(data={"numbers": [3], "range": {"start": 1}}, config=CONFIGS[1])
def test_any_mapping_gives_a_job_or_a_job_error(root, data, config):
    raw = dump(data)
    outcome = check(root, raw, config)
    if isinstance(outcome, Job):
        assert outcome.total >= 0
        sources = [outcome.numbers is not None, outcome.numbers_file is not None,
                   outcome.range is not None]
        assert sources.count(True) == 1
        if outcome.numbers is not None:
            assert list(outcome.numbers) == data["numbers"]
            assert all(type(n) is int and 0 <= n < 2 ** config.limits.number_bits
                       for n in outcome.numbers)
            assert outcome.total == len(data["numbers"]) <= config.limits.numbers
        if outcome.range is not None:
            assert outcome.range == (data["range"]["start"], data["range"]["stop"])
            assert 0 <= outcome.total <= config.limits.range_length
        if outcome.numbers_file is not None:
            assert outcome.numbers_file in ("n.txt", "empty.txt", "sub/m.txt")
        assert 1 <= outcome.pool.processes <= config.processes_per_job
        assert 1 <= outcome.chunksize <= config.limits.chunksize
        assert 0 < outcome.timeout <= config.limits.timeout


@SETTINGS
@given(data=job_mappings)
@example(data={"id": "../../escape", "numbers": [1]})
def test_an_accepted_id_is_a_safe_name(root, data):
    """Ids become folder and file names: any id load_job accepts must fullmatch the
    pattern (no '/', no spaces, at most 64 characters)."""
    outcome = check(root, dump(data), CONFIGS[0])
    if isinstance(outcome, Job):
        assert JOB_ID_PATTERN.fullmatch(outcome.id), outcome.id


TOKENS = ["numbers", "numbers_file", "range", "pool", "id", "timeout", "start", "stop",
          "processes", ":", ": ", "\n", "  ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "!!int ",
          "!!python/object:os.system ", "'", '"', "#", "0x1f", "017", "10:20", "-3", "1.5", "1e3",
          "n.txt", "..", "\t", "\ufeff", "\x00", "\\0", "? ", "---", "...", "%YAML 1.1\n", "<<: ",
          "BIG", "DEEP", "OPEN"]
# long tokens under short names, so that a failing example reads well
EXPAND = {"BIG": "9" * 5000, "DEEP": "[" * 2000 + "]" * 2000, "OPEN": "{a: [" * 1000}


@SETTINGS
@example(parts=["numbers: [", "BIG", "]"], config=CONFIGS[0])
@example(parts=["numbers: [1]\nid: ", "DEEP"], config=CONFIGS[0])
@example(parts=["numbers: [1]\nid: ", "OPEN"], config=CONFIGS[0])
@example(parts=['numbers_file: "', "\\0", '"'], config=CONFIGS[0])
@given(parts=st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)), max_size=25),
       config=st.sampled_from(CONFIGS))
def test_yaml_like_text_gives_a_job_or_a_job_error(root, parts, config):
    text = "".join(EXPAND.get(part, part) for part in parts)
    check(root, text.encode("utf-8", "surrogatepass"), config)


@SETTINGS
@given(raw=st.binary(max_size=400), config=st.sampled_from(CONFIGS))
def test_random_bytes_give_a_job_or_a_job_error(root, raw, config):
    check(root, raw, config)


@SETTINGS
@example(spec={"id": "one", "numbers_file": "jobs/.state/inputs/0a1b-one 2.txt", "task": "factor"})
@example(spec={"id": "true", "numbers_file": "#x: 'y'"})
@given(spec=st.fixed_dictionaries({"id": st.text(max_size=12), "numbers_file": st.text(max_size=20)},
                                  optional={"task": st.text(max_size=8)}))
def test_a_job_file_the_door_writes_reads_back_as_its_spec(spec):
    """submission._job_file_text writes the door's own jobs without PyYAML: whatever they
    hold, YAML reads back the spec it was written from."""
    from runner.submission import _job_file_text

    assert yaml.safe_load(_job_file_text(spec)) == spec
