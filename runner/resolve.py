"""A validated job file made into a `Job`: its numbers checked against config.yaml's
limits, its pool settings and timeout with config's defaults filled in, and its chunk
policy (what chunksize a job that names none gets, by its task's cost).
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .config import Config
from .errors import JobError, short_repr
from .job import JOB_ID_PATTERN, JOB_ID_RULE
from .numbers import U64_LIMIT, decimal_digits
from .spec import Job, PoolSettings
from .task import Task

if TYPE_CHECKING:
    from .jobfile import JobFields

CHUNKS_PER_PROCESS = 4
AUTO_CHUNKSIZE_MAX = 20_000
RANGE_CHUNK_BLOCKS_MAX = 4
CHUNK_SECONDS_TARGET = 0.5  # a picked chunk of big numbers takes about this long at worst
BITS_PER_DIGIT = 3.33


def _cluster_pool(processes: int) -> PoolSettings:
    """A job's pool on a Dask cluster. Its workers are started by `dask worker` and live
    as it says (`--lifetime`, the nanny's memory limits): the job's start_method and
    maxtasksperchild are accepted, so the same job files run, and not used."""
    return PoolSettings(processes=processes, maxtasksperchild=None, start_method="dask worker")


def resolve_job(fields: "JobFields", task: Task, default_id: str, root: Path,
                config: Config) -> Job:
    """The Job a validated job file makes: its id, its numbers checked against config's
    limits, its pool settings and timeout (config's defaults filled in), its chunksize.
    JobError for what breaks a limit."""
    limits, defaults = config.limits, config.defaults
    if fields.id is not None and not JOB_ID_PATTERN.fullmatch(fields.id):
        raise JobError(f"id {short_repr(fields.id)} {JOB_ID_RULE}", field="id",
                       fix="rename the job, or leave out `id:` to use the file's name")
    sources = [n for n in ("numbers", "numbers_file", "range") if getattr(fields, n) is not None]
    if len(sources) != 1:
        raise JobError(
            "names no numbers to test" if not sources else f"names both {sources[0]} and {sources[1]}",
            fix="give exactly one of numbers, numbers_file and range",
        )
    processes = fields.pool.processes or defaults.processes or config.processes_per_job
    cap = ("limits.processes_per_job" if config.processes_per_job < config.total_processes
           else "max_processes")
    _check_limit(processes, config.processes_per_job, "pool.processes", cap)
    if fields.pool.chunksize is not None:
        _check_limit(fields.pool.chunksize, limits.chunksize, "pool.chunksize", "limits.chunksize")
    timeout = float(fields.timeout or defaults.timeout)
    _check_limit(timeout, limits.timeout, "timeout", "limits.timeout")
    retries = config.default_retries if fields.retries is None else fields.retries
    _check_limit(retries, limits.retries, "retries", "limits.retries")
    common = dict(
        id=fields.id or default_id,
        pool=PoolSettings(
            processes=processes,
            maxtasksperchild=fields.pool.maxtasksperchild or defaults.maxtasksperchild,
            start_method=fields.pool.start_method or defaults.start_method,
        ) if config.backend == "local" else _cluster_pool(processes),
        ordered=defaults.ordered if fields.pool.ordered is None else fields.pool.ordered,
        timeout=timeout,
        priority=fields.priority,
        retries=retries,
    )
    source, total, lengths = _numbers_source(fields, root, limits)
    chunking = _chunking(fields, config, task, source, total, processes, lengths)
    return Job(total=total, **chunking, **source, **common)


def _numbers_source(fields: "JobFields", root: Path, limits) -> tuple[dict, int, dict[int, int]]:
    """Where the job's numbers come from (its Job fields for that), checked against the
    limits; how many there are; and (but for a range) how many of each length in digits,
    which the chunk policy weighs them by."""
    if fields.numbers is not None:
        _check_limit(len(fields.numbers), limits.numbers, "numbers (their count)", "limits.numbers")
        for index, number in enumerate(fields.numbers):
            check_number(number, limits.number_bits, f"numbers[{index}]")
        return ({"numbers": tuple(fields.numbers)}, len(fields.numbers),
                Counter(map(decimal_digits, fields.numbers)))
    if fields.range is not None:
        start, stop = fields.range.start, fields.range.stop
        if stop < start:
            raise JobError(f"range stop {stop} is below its start {start}", field="range",
                           fix="ranges are half-open [start, stop), like Python's range")
        _check_limit(stop - start, limits.range_length, "range (its length)", "limits.range_length")
        check_bits(max(stop - 1, 0), limits.number_bits, "range.stop")
        return {"range": (start, stop)}, stop - start, {}
    from .plan import survey_numbers_file  # numpy: only for a file

    relative = resolve_inside(root, fields.numbers_file, "numbers_file")
    try:
        survey = survey_numbers_file(root / relative)
    except OSError as exc:
        raise JobError(f"{short_repr(relative)} cannot be read: {exc.strerror}", field="numbers_file",
                       fix="make the file readable by the daemon") from exc
    _check_limit(survey.count, limits.numbers, "its count of numbers", "limits.numbers",
                 field="numbers_file")
    return {"numbers_file": relative}, survey.count, survey.lengths


def _chunking(fields: "JobFields", config: Config, task: Task, source: dict, numbers: int,
              processes: int, lengths: dict[int, int]) -> dict:
    """How the job's numbers are cut, as Job fields: its chunksize; its chunk caps
    (plan.py) if its chunks are cut by cost; `tapered` if they shrink at its end.
    Its own chunksize, else one the runner picks, so that each process has about
    CHUNKS_PER_PROCESS chunks. A range its task takes in blocks (the primes task's sieve
    segments, below 2^64) gets 1 to RANGE_CHUNK_BLOCKS_MAX whole blocks a chunk (each
    chunk of a sieve walks the base primes once, and costs about a millisecond more);
    other numbers get defaults.chunksize, raised for a big job to at most
    AUTO_CHUNKSIZE_MAX numbers (each chunk costs the daemon a fraction of a millisecond).
    When the task says what a number of so many bits may cost (`worst_seconds`), a chunk
    is cut to take about CHUNK_SECONDS_TARGET at worst, so that progress, cancel and
    timeouts move in steps of that size: a range's chunks by its biggest number, a list's
    or a file's by each number's own length (`lengths`: how many numbers of each length in
    digits); without, the picked chunksize is the most a chunk holds, and the last chunks
    shrink (plan.chunk_sizes). Outside blocks, a defaults.chunksize that config.yaml sets
    is taken as it is. Never over limits.chunksize."""
    if fields.pool.chunksize is not None:
        return {"chunksize": fields.pool.chunksize}
    defaults, most = config.defaults, config.limits.chunksize
    if task.range_block is not None and "range" in source and source["range"][1] <= U64_LIMIT:
        block = task.range_block
        blocks = numbers // (processes * CHUNKS_PER_PROCESS * block)
        return {"chunksize": min(most, max(defaults.chunksize,
                                           min(RANGE_CHUNK_BLOCKS_MAX, max(1, blocks)) * block))}
    if "chunksize" in defaults.model_fields_set:  # the operator's choice, whatever it costs
        return {"chunksize": min(most, defaults.chunksize)}
    picked = min(most, max(defaults.chunksize,
                           min(AUTO_CHUNKSIZE_MAX, numbers // (processes * CHUNKS_PER_PROCESS))))
    if task.worst_seconds is None:
        return {"chunksize": picked, "tapered": True}
    if "range" in source:  # numbers all about as long as its biggest
        biggest = max(source["range"][1] - 1, 0)
        return {"chunksize": min(picked, _cap(task, biggest.bit_length()))}
    caps = {length: min(picked, _cap(task, int(length * BITS_PER_DIGIT)))
            for length in sorted(lengths)}
    chunksize = max(caps.values(), default=picked)  # the most a chunk of this job can hold
    capped = tuple((length, cap) for length, cap in caps.items() if cap < chunksize)
    return {"chunksize": chunksize, "chunk_caps": capped or None}


def _cap(task: Task, bits: int) -> int:
    """How many numbers of `bits` bits take about CHUNK_SECONDS_TARGET at worst."""
    return max(1, int(CHUNK_SECONDS_TARGET / task.worst_seconds(bits)))


def resolve_inside(root: Path, name: str, field: str) -> str:
    """`name` as a path relative to the spool `root`, refused if it leaves the spool.

    Absolute paths, `..` and symlinks anywhere on the way are refused; the file
    must be a regular file. Nothing is opened, so a FIFO cannot block us.
    """
    candidate = Path(name)
    if "\0" in name or candidate.is_absolute() or ".." in candidate.parts or not candidate.parts:
        raise JobError(f"{short_repr(name)} is not a path inside the spool", field=field,
                       fix="give a path relative to the spool's root, without '..'")
    current = root
    for part in candidate.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except OSError as exc:
            raise JobError(f"{short_repr(name)} cannot be read: {exc.strerror}", field=field,
                           fix=f"check the file's name; paths are relative to the spool's root, "
                           f"{root}") from exc
        if stat.S_ISLNK(info.st_mode):
            raise JobError(f"{short_repr(name)} goes through a symlink ({current.relative_to(root)})",
                           field=field, fix="copy the file into the spool instead of linking it")
    if not stat.S_ISREG(info.st_mode):
        raise JobError(f"{short_repr(name)} is not a regular file", field=field,
                       fix="name a plain file of numbers, one a line")
    return candidate.as_posix()


def _check_limit(value, limit, name: str, setting: str, field: Optional[str] = None) -> None:
    if value > limit:
        raise JobError(f"{name} is {value}, over the limit {setting} = {limit}",
                       field=field or name.split(" ")[0],
                       fix=f"ask for at most {limit}, or raise {setting} in config.yaml")


def check_number(number: int, max_bits: int, field: str) -> None:
    """A JobError naming `field` unless `number` is one a job may test: from 0 up, of at
    most `max_bits` bits."""
    if number < 0:
        raise JobError(f"{number} is negative", field=field, fix="give integers from 0 up")
    check_bits(number, max_bits, field)


def check_bits(number: int, limit: int, field: str) -> None:
    if number.bit_length() > limit:
        raise JobError(f"the number has {number.bit_length()} bits, over the limit "
                       f"limits.number_bits = {limit}", field=field,
                       fix=f"give numbers of at most {limit} bits, or raise limits.number_bits "
                       "in config.yaml")
