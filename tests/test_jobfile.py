"""Unit tests of runner/jobfile.py: `load_job` on real files in a temporary spool."""

from __future__ import annotations

import inspect
import os
import re
import threading
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from runner import __version__
from runner.config import Config, load_config
from runner.errors import JobError
from runner.spec import Job, PoolSettings
from runner.jobfile import load_job
from runner.spool import Spool
from runner.task import Task


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fresh spool's root, with the template config.yaml (all defaults)."""
    return Spool.create(tmp_path / "spool").root


def config_with(root: Path, settings: dict) -> Config:
    (root / "config.yaml").write_text(yaml.safe_dump(settings))
    return load_config(root)


SMALL = Config(max_processes=2)


def load(root: Path, text: str | bytes, name: str = "job.yaml", config: Config = SMALL) -> Job:
    path = root / "jobs" / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return load_job(path, root, config)


def refused(root: Path, text: str | bytes, name: str = "job.yaml",
            config: Config = SMALL) -> JobError:
    with pytest.raises(JobError) as info:
        load(root, text, name, config)
    error = info.value
    assert error.what
    assert str(error) == error.message()
    assert error.file == f"jobs/{name}"
    assert str(error).startswith(f"jobs/{name}")
    return error


# -- valid jobs, resolved with config's defaults -----------------------------------


BUILT_IN = f"runner {__version__}"  # the primes task's package and version, as jobs record it
DEFAULTS = {"max_processes": 3, "defaults": {"chunksize": 7, "start_method": "spawn",
                                             "ordered": False, "timeout": 12,
                                             "maxtasksperchild": 5}}


def test_numbers_job_takes_defaults_from_config(root):
    config = config_with(root, DEFAULTS)
    job = load(root, "numbers: [2, 3, 4, 0, 1]\n", "primes.yaml", config)
    assert job == Job(id="primes", pool=PoolSettings(processes=3, maxtasksperchild=5,
                                                     start_method="spawn"),
                      chunksize=7, ordered=False, timeout=12.0, total=5,
                      numbers=(2, 3, 4, 0, 1), task_version=BUILT_IN)
    assert isinstance(job.timeout, float)


def test_numbers_file_job_counts_its_lines(root):
    config = config_with(root, DEFAULTS)
    (root / "data").mkdir()
    (root / "data" / "n.txt").write_text("# header\n2\n\n  3  # three\n4\n5")
    job = load(root, "numbers_file: data/n.txt\n", "f.yml", config)
    assert job == Job(id="f", pool=PoolSettings(3, 5, "spawn"), chunksize=7, ordered=False,
                      timeout=12.0, total=4, numbers_file="data/n.txt", task_version=BUILT_IN)


def test_range_job(root):
    """A range below 2^64 naming no chunksize is cut into sieve segments, not into
    defaults.chunksize numbers."""
    config = config_with(root, DEFAULTS)
    job = load(root, "range: {start: 10, stop: 110}\n", "r.yaml", config)
    assert job == Job(id="r", pool=PoolSettings(3, 5, "spawn"), chunksize=1 << 20,
                      ordered=False, timeout=12.0, total=100, range=(10, 110),
                      task_version=BUILT_IN)


@pytest.mark.parametrize("text, chunksize", [
    ("range: {start: 0, stop: 100000}\n", 1 << 20),
    ("range: {start: 0, stop: 100000}\npool: {chunksize: 5000}\n", 5000),  # named: kept
    (f"range: {{start: {2**64 - 10}, stop: {2**64}}}\n", 1 << 20),  # 2^64 - 1 is sieved
    (f"range: {{start: {2**64}, stop: {2**64 + 10}}}\n", 1000),  # one by one: the default
    ("numbers: [1, 2, 3]\n", 1000),
    ("numbers_file: big.txt\n", 20_000),  # 200,000 numbers: raised, to the cap
    ("numbers_file: big.txt\npool: {chunksize: 10}\n", 10),
    ("numbers_file: mid.txt\n", 2_500),  # 20,000 numbers: 4 chunks a process
])
def test_chunksize_the_runner_picks(root, text, chunksize):
    config = config_with(root, {"max_processes": 2, "limits": {"chunksize": 1 << 21}})
    (root / "big.txt").write_bytes(b"7\n" * 200_000)
    (root / "mid.txt").write_bytes(b"7\n" * 20_000)
    assert load(root, text, "j.yaml", config).chunksize == chunksize


BIG = 2**1023 + 2**500 + 1  # a 1024-bit number: about 1.5 ms to test at worst


@pytest.mark.parametrize("text, chunksize", [
    (f"numbers: [{BIG}, {BIG}]\n", 343),  # by their 309 digits (1028 bits at most)
    (f"range: {{start: {BIG}, stop: {BIG + 10**6}}}\n", 344),  # 0.5 s of 1.45 ms each
    ("numbers_file: costly.txt\n", 343),  # by its numbers' digits, not its comments
    ("numbers_file: costly.txt\npool: {chunksize: 5000}\n", 5000),  # named: kept
    ("numbers_file: commented.txt\n", 20_000),  # 64-bit numbers under a long comment
])
def test_chunks_of_big_numbers_are_sized_by_their_cost(root, text, chunksize):
    """Numbers past 2^64 get chunks of about half a second at worst, whatever the
    comments around them; a chunksize the job names is its own."""
    config = config_with(root, {"max_processes": 2, "limits": {"chunksize": 1 << 21}})
    (root / "costly.txt").write_text(f"# {'x' * 2000}\n\n" + f"{BIG}  # a prime?\n" * 5000)
    (root / "commented.txt").write_text(f"# {'x' * 2000}\n" + "18446744073709551557\n" * 200_000)
    assert load(root, text, "j.yaml", config).chunksize == chunksize


@pytest.mark.parametrize("stop, segments", [
    (10**6, 1), (16 << 20, 2), (3 * 10**7, 3), (10**9, 4), (10**12, 4)])
def test_range_chunks_are_whole_segments_about_4_a_process(root, stop, segments):
    config = config_with(root, {"max_processes": 2})
    job = load(root, f"range: {{start: 0, stop: {stop}}}\n", "j.yaml", config)
    assert job.chunksize == segments << 20


@pytest.mark.parametrize("text, chunksize, caps", [
    ("range: {start: 0, stop: 100000}", 12_500, None),  # by count: not one segment
    ("range: {start: 0, stop: 10000000}", 20_000, None),
    ("numbers: [%d]" % (2**64 - 59), 734, None),  # 20 digits, as 66 bits: 0.68 ms at worst
    ("numbers: [%d]" % (2**99 + 1), 91, None),  # 30 digits, as 99 bits: 5.5 ms
    ("numbers: [%d, 5]" % (2**199 + 1), 1000, ((60, 1),)),  # seconds a number: one a chunk
    ("range: {start: 0, stop: 100000}\npool: {chunksize: 7}", 7, None),
])
def test_a_task_without_a_sieve_is_chunked_by_count_and_its_cost(root, text, chunksize, caps):
    """Only the primes task sieves ranges in whole segments; factor's ranges are numbers
    like any others, and its costly numbers get chunks of about half a second at worst:
    a job's numbers of each length get their own cap, under a chunksize that is the most
    any chunk of the job can hold."""
    config = config_with(root, {"max_processes": 2})
    job = load(root, f"task: factor\n{text}\n", "j.yaml", config)
    assert (job.chunksize, job.chunk_caps) == (chunksize, caps)


def test_a_task_of_unknown_cost_gets_chunks_that_shrink_at_its_end(root):
    """A task that says nothing of what a number costs (a plain function) gets the picked
    chunksize as the most a chunk holds, its last chunks smaller (plan.chunk_sizes); a
    chunksize the job or the operator names is kept as it is, and a task that says its
    cost is cut by it."""
    from runner.jobfile import JobFields
    from runner.registry import registry
    from runner.resolve import resolve_job
    from runner.task import Task

    (root / "mid.txt").write_bytes(b"7\n" * 20_000)

    def resolved(text: str, task: Task, settings: dict) -> Job:
        config = config_with(root, {"max_processes": 2, **settings})
        return resolve_job(JobFields.model_validate(yaml.safe_load(text)), task, "j", root,
                           config)

    unknown = Task(item=abs)
    job = resolved("numbers_file: mid.txt", unknown, {})
    assert (job.chunksize, job.tapered) == (2_500, True)
    assert Job.from_dict(job.to_dict()) == job  # kept in the spool for a resumed job
    assert not resolved("numbers_file: mid.txt\npool: {chunksize: 100}", unknown, {}).tapered
    assert not resolved("numbers_file: mid.txt", unknown, {"defaults": {"chunksize": 64}}).tapered
    for own in ("primes", "factor"):
        assert not resolved("numbers_file: mid.txt", registry().lookup(own).task, {}).tapered


def test_picked_chunksize_stays_within_limits(root):
    config = config_with(root, {"limits": {"chunksize": 300}})
    assert load(root, "range: {start: 0, stop: 100000}\n", "j.yaml", config).chunksize == 300


def test_template_config_defaults(root):
    config = load_config(root)
    job = load(root, "numbers: [5]\n", config=config)
    assert job.pool == PoolSettings(config.processes_per_job, None, "forkserver")
    assert (job.chunksize, job.ordered, job.timeout) == (1000, True, 300.0)


def test_job_settings_override_defaults(root):
    config = config_with(root, DEFAULTS)
    job = load(root, "id: mine\nnumbers: [1]\ntimeout: 2.5\n"
                     "pool: {processes: 2, chunksize: 3, maxtasksperchild: 1,\n"
                     "       start_method: fork, ordered: true}\n", config=config)
    assert job.id == "mine"
    assert job.pool == PoolSettings(2, 1, "fork")
    assert (job.chunksize, job.ordered, job.timeout) == (3, True, 2.5)


def test_defaults_processes_is_used(root):
    config = config_with(root, {"max_processes": 4, "defaults": {"processes": 1}})
    assert load(root, "numbers: [1]\n", config=config).pool.processes == 1


def test_default_id_is_the_file_name_made_safe(root):
    assert load(root, "numbers: [1]\n", "my job!.yaml").id == "my_job_"
    path = root / "jobs" / "other.yaml"
    path.write_text("numbers: [1]\n")
    assert load_job(path, root, SMALL, name="given.yaml").id == "given"


def test_error_names_the_given_name(root):
    path = root / "elsewhere.yaml"
    path.write_text("numbers: [x]\n")
    with pytest.raises(JobError) as info:
        load_job(path, root, SMALL, name="dropped.yaml")
    assert info.value.file == "jobs/dropped.yaml"
    assert str(info.value).startswith("jobs/dropped.yaml, line 1")


def test_byte_order_mark_is_allowed(root):
    assert load(root, "\ufeffnumbers: [7]\n").numbers == (7,)


# -- unknown keys and settings, with "did you mean" --------------------------------


def test_misspelt_pool_setting(root):
    error = refused(root, "numbers: [1]\npool:\n  chunksize: 2\n  proceses: 3\n")
    assert "did you mean 'processes'" in str(error)
    assert (error.line, error.column) == (4, 3)
    assert "line 4, column 3" in str(error)
    assert error.field == "pool.proceses"


def test_misspelt_job_field(root):
    error = refused(root, "id: a\nnumbrs: [1]\n")
    assert "did you mean 'numbers'" in str(error)
    assert error.line == 2
    assert error.field == "numbrs"


def test_unknown_key_without_a_close_match_lists_the_fields(root):
    error = refused(root, "numbers: [1]\nxyzzy: 3\n")
    assert "did you mean" not in str(error)
    assert error.line == 2
    assert "numbers_file" in error.fix and "range" in error.fix


def test_misspelt_start_method(root):
    error = refused(root, "numbers: [1]\npool: {start_method: forked}\n")
    assert "did you mean 'fork'" in str(error)
    assert error.line == 2
    assert error.field == "pool.start_method"


def test_misspelt_range_field_gets_a_suggestion(root):
    """The module promises a "did you mean" for misspelt keys; a misspelt `stop` in a
    range must get one too (not only "range.stop is missing")."""
    error = refused(root, "range: {start: 1, stpo: 5}\n")
    assert "did you mean 'stop'" in str(error)


# -- not YAML, not text, not a mapping ----------------------------------------------


@pytest.mark.parametrize("text, line", [
    ("numbers: [1, 2\n", 2),
    ("numbers: [1]\npool:\n  processes: 2\n   chunksize: 3\n", 4),
    ("numbers: [1]\n\tpool: {}\n", 2),
    ("numbers: [1]\n---\nnumbers: [2]\n", 2),
])
def test_broken_yaml_says_where(root, text, line):
    error = refused(root, text)
    assert "not valid YAML" in error.what
    assert error.line == line
    assert error.column is not None
    assert f"line {line}, column {error.column}" in str(error)


def test_not_utf8(root):
    error = refused(root, b"numbers: [1]\nid: caf\xe9\n")
    assert "UTF-8" in str(error)
    assert "byte 20" in str(error)  # 13 bytes of line 1, then "id: caf"


@pytest.mark.parametrize("text", ["", "   \n\n\t\n"])
def test_empty_file(root, text):
    assert "empty" in refused(root, text).what


@pytest.mark.parametrize("text, kind", [
    ("- 1\n- 2\n", "a list"),
    ("[1, 2]\n", "a list"),
    ("5\n", "an integer"),
    ("hello\n", "a string"),
    ("true\n", "a boolean"),
    ("# just a comment\n", "nothing"),
])
def test_top_level_must_be_a_mapping(root, text, kind):
    error = refused(root, text)
    assert "mapping" in error.what
    assert kind in error.what


# -- numbers: types, signs, and what counts as an integer ---------------------------


@pytest.mark.parametrize("value, kind", [
    ("1.5", "a float"), ("2.0", "a float"), ("'5'", "a string"), ("five", "a string"),
    ("true", "a boolean"), ("yes", "a boolean"), ("null", "nothing"), ("[1]", "a list"),
    ("{a: 1}", "a mapping"), ("0o17", "a string"),
])
def test_numbers_must_be_integers(root, value, kind):
    error = refused(root, f"numbers:\n  - 3\n  - {value}\n")
    assert error.field == "numbers[1]"
    assert (error.line, error.column) == (3, 5)
    assert kind in error.what
    assert "must be an integer" in error.what


def test_negative_numbers_refused(root):
    error = refused(root, "numbers: [3, -5, 7]\n")
    assert "negative" in error.what
    assert error.field == "numbers[1]"
    assert "-5" in str(error)


@pytest.mark.parametrize("text", ["0x1f", "1_000", "0b101", "+5", "10:20", "1:00:00", "-0x1f"])
def test_non_decimal_integers_refused(root, text):
    error = refused(root, f"numbers:\n  - 1\n  - {text}\n")
    assert "plain decimal" in error.what
    assert text in error.what
    assert (error.line, error.column) == (3, 5)


@pytest.mark.parametrize("text", ["0X1F", "0o17", "1e3", "1.0e3", "0x1g"])
def test_other_integer_spellings_refused(root, text):
    # not integers to YAML 1.1: strings or floats, refused all the same
    error = refused(root, f"numbers: [{text}]\n")
    assert error.field == "numbers[0]"


def test_non_decimal_integer_in_a_setting_refused(root):
    error = refused(root, "numbers: [1]\npool: {processes: 0x2}\n")
    assert "plain decimal" in error.what and error.line == 2


def test_leading_zero_is_decimal_not_octal(root):
    assert load(root, "numbers: [017, 0010, 0]\n").numbers == (17, 10, 0)
    assert load(root, "numbers: [1]\npool: {chunksize: 010}\n").chunksize == 10


def test_explicit_int_tag_still_decimal_only(root):
    error = refused(root, "numbers: [!!int '0x1f']\n")
    assert "plain decimal" in error.what


def test_big_numbers_within_the_bit_limit(root):
    big = 2**4096 - 1
    assert load(root, f"numbers: [{big}, 0]\n").numbers == (big, 0)


def test_number_with_many_digits_is_a_job_error(root):
    """A number of 5000 digits is over limits.number_bits (4096): that must be the error,
    not Python's int-from-string digit limit (ValueError) escaping load_job."""
    error = refused(root, "numbers: [1" + "0" * 4999 + "]\n")
    assert "limits.number_bits" in str(error)
    assert "config.yaml" in str(error)


def test_setting_with_many_digits_is_a_job_error(root):
    error = refused(root, "numbers: [1]\npool: {processes: 1" + "0" * 4999 + "}\n")
    assert "processes" in str(error)


# -- YAML features that data files do not need ---------------------------------------


@pytest.mark.parametrize("text", [
    "numbers: &a [1, 2]\nid: x\n",  # an anchor alone is refused only if aliased; see below
])
def test_anchor_without_alias_is_harmless(root, text):
    assert load(root, text).numbers == (1, 2)


@pytest.mark.parametrize("text", [
    "numbers: &n [1, 2]\nrange: *n\n",
    "base: &b {start: 1, stop: 5}\nrange:\n  <<: *b\n",
    "numbers: [&x 1, *x]\n",
    "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\nnumbers: [1]\n",
])
def test_aliases_refused(root, text):
    error = refused(root, text)
    assert "anchors and aliases" in error.what
    assert error.line is not None


@pytest.mark.parametrize("text", [
    "!!python/object:os.system {}\n",
    "numbers: !!python/tuple [1, 2]\n",
    "numbers: [1]\nid: !!python/name:os.system ''\n",
    "numbers: [1]\nid: !!python/object/apply:os.getcwd []\n",
    "numbers: !custom [1]\n",
])
def test_python_and_custom_tags_refused(root, text):
    error = refused(root, text)
    assert "not valid YAML" in error.what
    assert "constructor" in error.what
    assert error.line is not None


# -- what to test: exactly one source -------------------------------------------------


@pytest.mark.parametrize("text", ["id: a\n", "pool: {processes: 1}\n", "numbers: null\n"])
def test_no_source(root, text):
    error = refused(root, text)
    assert "names no numbers" in error.what
    assert "exactly one" in error.fix


@pytest.mark.parametrize("text, both", [
    ("numbers: [1]\nrange: {start: 0, stop: 2}\n", ("numbers", "range")),
    ("numbers_file: n.txt\nnumbers: [1]\n", ("numbers", "numbers_file")),
    ("numbers_file: n.txt\nrange: {start: 0, stop: 2}\n", ("numbers_file", "range")),
])
def test_two_sources(root, text, both):
    (root / "n.txt").write_text("1\n")
    error = refused(root, text)
    assert error.what == f"names both {both[0]} and {both[1]}"


def test_range_stop_below_start(root):
    error = refused(root, "range: {start: 10, stop: 5}\n")
    assert error.field == "range"
    assert "below its start" in error.what


@pytest.mark.parametrize("text, field", [
    ("range: {start: -1, stop: 5}\n", "range.start"),
    ("range: {start: 1}\n", "range.stop"),
    ("range: {start: 1, stop: 2, step: 1}\n", "range.step"),
    ("range: [1, 5]\n", "range"),
])
def test_bad_range_fields(root, text, field):
    assert refused(root, text).field == field


@pytest.mark.parametrize("text, field", [
    ("numbers: [1]\npool: {processes: 0}\n", "pool.processes"),
    ("numbers: [1]\npool: {chunksize: -1}\n", "pool.chunksize"),
    ("numbers: [1]\npool: {ordered: 1}\n", "pool.ordered"),
    ("numbers: [1]\npool: {processes: '2'}\n", "pool.processes"),
    ("numbers: [1]\ntimeout: 0\n", "timeout"),
    ("numbers: [1]\ntimeout: -3\n", "timeout"),
    ("numbers: [1]\npool: [1]\n", "pool"),
    ("numbers: 5\n", "numbers"),
    ("numbers_file: 5\n", "numbers_file"),
])
def test_bad_values_name_their_field(root, text, field):
    error = refused(root, text)
    assert error.field == field
    assert error.line == 2 if "\n" in text.rstrip("\n") else error.line == 1


# -- limits of config.yaml ------------------------------------------------------------


def assert_limit(error: JobError, setting: str) -> None:
    message = str(error)
    assert f"limits.{setting}" in message, message
    assert "config.yaml" in message, message


def test_limit_job_file_bytes(root):
    config = config_with(root, {"limits": {"job_file_bytes": 40}})
    assert load(root, "numbers: [1, 2, 3]\n", config=config).total == 3
    error = refused(root, "numbers: [" + ", ".join(["1"] * 30) + "]\n", config=config)
    assert_limit(error, "job_file_bytes")


def test_limit_numbers_inline(root):
    config = config_with(root, {"limits": {"numbers": 3}})
    assert load(root, "numbers: [1, 2, 3]\n", config=config).total == 3
    error = refused(root, "numbers: [1, 2, 3, 4]\n", config=config)
    assert_limit(error, "numbers")
    assert error.field == "numbers"


def test_limit_numbers_in_a_numbers_file(root):
    config = config_with(root, {"limits": {"numbers": 3}})
    (root / "ok.txt").write_text("1\n# not a number\n\n2\n3\n")
    assert load(root, "numbers_file: ok.txt\n", config=config).total == 3
    (root / "big.txt").write_text("1\n2\n3\n4\n")
    error = refused(root, "numbers_file: big.txt\n", config=config)
    assert_limit(error, "numbers")
    assert error.field == "numbers_file"


def test_limit_number_bits(root):
    config = config_with(root, {"limits": {"number_bits": 8}})
    assert load(root, "numbers: [255, 0]\n", config=config).numbers == (255, 0)
    error = refused(root, "numbers: [1, 256]\n", config=config)
    assert_limit(error, "number_bits")
    assert error.field == "numbers[1]"


def test_limit_number_bits_for_a_range(root):
    config = config_with(root, {"limits": {"number_bits": 8}})
    assert load(root, "range: {start: 0, stop: 256}\n", config=config).total == 256
    assert_limit(refused(root, "range: {start: 0, stop: 257}\n", config=config), "number_bits")


def test_limit_range_length(root):
    config = config_with(root, {"limits": {"range_length": 10}})
    assert load(root, "range: {start: 5, stop: 15}\n", config=config).total == 10
    error = refused(root, "range: {start: 5, stop: 16}\n", config=config)
    assert_limit(error, "range_length")
    assert error.field == "range"


def test_limit_processes_per_job(root):
    config = config_with(root, {"max_processes": 4, "limits": {"processes_per_job": 2}})
    assert load(root, "numbers: [1]\npool: {processes: 2}\n", config=config).pool.processes == 2
    error = refused(root, "numbers: [1]\npool: {processes: 3}\n", config=config)
    assert_limit(error, "processes_per_job")
    assert error.field == "pool.processes"


def test_processes_over_max_processes_names_max_processes(root):
    """With no limits.processes_per_job, the cap is max_processes: the fix must say to
    raise that (raising limits.processes_per_job alone would change nothing)."""
    config = config_with(root, {"max_processes": 2})
    error = refused(root, "numbers: [1]\npool: {processes: 3}\n", config=config)
    assert "max_processes" in error.fix.replace("limits.processes_per_job", "")


def test_limit_chunksize(root):
    config = config_with(root, {"limits": {"chunksize": 10}})
    assert load(root, "numbers: [1]\npool: {chunksize: 10}\n", config=config).chunksize == 10
    error = refused(root, "numbers: [1]\npool: {chunksize: 11}\n", config=config)
    assert_limit(error, "chunksize")
    assert error.field == "pool.chunksize"


def test_limit_timeout(root):
    config = config_with(root, {"limits": {"timeout": 10}})
    assert load(root, "numbers: [1]\ntimeout: 10\n", config=config).timeout == 10.0
    for value in ("11", "10.5", ".inf"):
        error = refused(root, f"numbers: [1]\ntimeout: {value}\n", config=config)
        assert_limit(error, "timeout")
        assert error.field == "timeout"


def test_default_timeout_over_the_limit_is_refused(root):
    config = config_with(root, {"defaults": {"timeout": 20}, "limits": {"timeout": 10}})
    assert_limit(refused(root, "numbers: [1]\n", config=config), "timeout")


# -- numbers_file must stay inside the spool -------------------------------------------


def numbers_file_error(root: Path, name: str) -> JobError:
    error = refused(root, yaml.safe_dump({"numbers_file": name}))
    assert error.field == "numbers_file"
    return error


@pytest.mark.parametrize("name", ["../outside.txt", "data/../../outside.txt", "data/../n.txt",
                                  "..", "", "."])
def test_numbers_file_with_dotdot_or_empty(root, name):
    (root.parent / "outside.txt").write_text("1\n")
    (root / "n.txt").write_text("1\n")
    (root / "data").mkdir()
    assert "not a path inside the spool" in numbers_file_error(root, name).what


def test_numbers_file_absolute(root):
    (root / "n.txt").write_text("1\n")
    assert "not a path inside" in numbers_file_error(root, str(root / "n.txt")).what


def test_numbers_file_symlink(root):
    (root / "real.txt").write_text("1\n")
    os.symlink("real.txt", root / "link.txt")
    assert "symlink" in numbers_file_error(root, "link.txt").what


def test_numbers_file_under_a_symlinked_folder(root, tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "n.txt").write_text("1\n")
    os.symlink(tmp_path / "outside", root / "data")
    assert "symlink" in numbers_file_error(root, "data/n.txt").what


@pytest.mark.timeout(10)
def test_numbers_file_fifo_does_not_block(root):
    os.mkfifo(root / "pipe")
    assert "not a regular file" in numbers_file_error(root, "pipe").what


def test_numbers_file_directory(root):
    (root / "data").mkdir()
    assert "not a regular file" in numbers_file_error(root, "data").what


def test_numbers_file_missing(root):
    error = numbers_file_error(root, "nope.txt")
    assert "cannot be read" in error.what
    assert "No such file" in error.what


def test_numbers_file_through_a_file(root):
    (root / "n.txt").write_text("1\n")
    assert "cannot be read" in numbers_file_error(root, "n.txt/x").what


def test_numbers_file_with_a_nul_byte(root):
    """A NUL in the name (YAML's "\\0" escape) must be a JobError, not os's ValueError."""
    (root / "a").write_text("1\n")
    error = refused(root, 'numbers_file: "a\\0b"\n')
    assert error.field == "numbers_file"


# -- the id ------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["a/b", "../../escape", "my job", "tab\there", "", "a" * 65,
                                    "bad!", "é"])
def test_bad_id_refused(root, job_id):
    error = refused(root, yaml.safe_dump({"id": job_id, "numbers": [1]}))
    assert error.field == "id"
    assert "may only use" in error.what


@pytest.mark.parametrize("job_id", ["a", "a.b_c-D9", "a" * 64])
def test_good_id(root, job_id):
    assert load(root, yaml.safe_dump({"id": job_id, "numbers": [1]})).id == job_id


# -- the job file itself -----------------------------------------------------------------


def test_job_file_symlink_refused(root):
    target = root / "real.yaml"
    target.write_text("numbers: [1]\n")
    link = root / "jobs" / "link.yaml"
    os.symlink(target, link)
    with pytest.raises(JobError) as info:
        load_job(link, root, SMALL)
    assert "symlink" in info.value.fix
    assert info.value.file == "jobs/link.yaml"


@pytest.mark.timeout(10)
def test_job_file_fifo_refused_without_blocking(root):
    fifo = root / "jobs" / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(JobError, match="not a regular file"):
        load_job(fifo, root, SMALL)


@pytest.mark.timeout(10)
def test_job_file_fifo_with_a_writer_refused(root):
    fifo = root / "jobs" / "pipe.yaml"
    os.mkfifo(fifo)
    opened = threading.Event()

    def writer():
        fd = os.open(fifo, os.O_RDWR)  # keeps a writer on the pipe without blocking
        opened.set()
        os.write(fd, b"numbers: [1]\n")
        os.close(fd)

    thread = threading.Thread(target=writer)
    thread.start()
    opened.wait(5)
    try:
        with pytest.raises(JobError, match="not a regular file"):
            load_job(fifo, root, SMALL)
    finally:
        thread.join(5)


def test_job_file_directory_refused(root):
    folder = root / "jobs" / "dir.yaml"
    folder.mkdir()
    with pytest.raises(JobError, match="not a regular file"):
        load_job(folder, root, SMALL)


def test_job_file_missing(root):
    with pytest.raises(JobError, match="cannot open"):
        load_job(root / "jobs" / "gone.yaml", root, SMALL)


def test_deeply_nested_value_is_a_job_error(root):
    """A 20 kB file of nested brackets is under every limit: it must give a JobError,
    not a RecursionError from printing the value."""
    error = refused(root, "id: " + "[" * 10000 + "]" * 10000 + "\nnumbers: [1]\n")
    # PyYAML 6.0.4's parser refuses such depth itself; older ones leave it to validation
    assert error.field == "id" or ("nesting depth" in error.what and error.line == 1)


def test_error_message_format(root):
    error = refused(root, "numbers: [1]\npool:\n  processes: nope\n", name="x.yaml")
    assert re.fullmatch(r"jobs/x\.yaml, line 3, column 14, field pool\.processes: .+\. Fix: .+",
                        str(error)), str(error)
    as_dict = error.to_dict()
    assert as_dict["file"] == "jobs/x.yaml"
    assert as_dict["line"] == 3 and as_dict["field"] == "pool.processes"
    assert as_dict["message"] == str(error)


# -- priority and retries ------------------------------------------------------------


def test_priority_and_retries_are_read_and_default(root):
    job = load(root, "numbers: [1]\npriority: -4\nretries: 5\n")
    assert (job.priority, job.retries) == (-4, 5)
    job = load(root, "numbers: [1]\n")
    assert (job.priority, job.retries) == (0, SMALL.max_chunk_attempts - 1)
    config = config_with(root, {"max_processes": 2, "defaults": {"retries": 7}})
    assert load(root, "numbers: [1]\n", config=config).retries == 7
    config = config_with(root, {"max_processes": 2, "max_chunk_attempts": 5})
    assert load(root, "numbers: [1]\n", config=config).retries == 4


@pytest.mark.parametrize("text, field, words", [
    ("priority: high\n", "priority", ["string", "integer"]),
    ("priority: '3'\n", "priority", ["string", "without quotes"]),
    ("priority: 2.5\n", "priority", ["float", "integer"]),
    ("priority: 5000000\n", "priority", ["5000000", "1000000", "smaller"]),
    ("priority: -5000000\n", "priority", ["-5000000", "-1000000", "larger"]),
    ("retries: -1\n", "retries", ["-1", "larger"]),
    ("retries: true\n", "retries", ["boolean", "integer"]),
    ("retries: 1000\n", "retries", ["limits.retries = 100", "raise limits.retries"]),
    ("priorty: 1\n", "priorty", ["did you mean 'priority'"]),
])
def test_bad_priority_or_retries_is_named_with_a_fix(root, text, field, words):
    error = refused(root, "numbers: [1]\n" + text)
    assert error.field == field, error
    assert error.fix, error
    for word in words:
        assert word in str(error), (word, str(error))


def _no_params(n):
    return n


def _defaults(n, *, cap: int = 5, scale=1.5, name: str = "x", strict: bool = False, tag=None):
    return n


def _required(n, *, cap: int):
    return n


def _not_json(n, *, at=(1, 2)):
    return n


def _other_type(n, *, cap: float = 5):
    return n


def _unresolved(n, *, cap: "Cap" = 5):  # noqa: F821
    return n


class _Params(BaseModel):
    cap: int = 5


@pytest.mark.parametrize("task, needs_none", [
    (Task(item=_no_params), True),
    (Task(item=_defaults), True),
    (Task(item=_required), False),
    (Task(item=_not_json), False),
    (Task(item=_other_type), False),  # pydantic would take it; not told without it
    (Task(item=_unresolved), False),  # pydantic cannot build its model
    (Task(item=_no_params, params=_Params), False),
    (Task(item=max), False),  # a builtin whose signature cannot be read
])
def test_a_task_says_without_pydantic_whether_it_needs_params(task, needs_none):
    """What lets `runner submit --task <a plugin's>` leave the check to the daemon
    (submission._task_needs_no_check): a task that says it needs no params passes the
    params check with none given, as the daemon makes it."""
    assert task.needs_no_params() is needs_none
    if needs_none:
        params = task.params_model().model_validate({}).model_dump(mode="json")
        assert params == {name: p.default for name, p in
                          inspect.signature(task.item).parameters.items() if name != "n"}


def test_runner_s_own_tasks_need_no_params():
    """What lets `runner submit --task <one of runner's own>` leave the check to the daemon
    under a config.yaml that sets nothing (submission._task_needs_no_check): a job naming
    such a task and no params is valid; and the door knows them by the names runner's
    entry points register."""
    from importlib.metadata import entry_points

    from runner.registry import GROUP, OWN_PACKAGE, registry
    from runner.tasks import BUILTIN_TASKS

    # runner's own entry points only: a plugin the suite installs may kill its importer
    own = {point.name for point in entry_points(group=GROUP) if point.dist.name == OWN_PACKAGE}
    assert own == BUILTIN_TASKS
    for name in own:
        assert registry().is_own(name)
        model = registry().lookup(name).task.params_model()
        assert not [field for field, info in model.model_fields.items() if info.is_required()]
