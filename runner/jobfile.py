"""The job file: YAML, data only, checked against config.yaml's limits.

A job file is loaded safely, anchors and aliases are refused (no "billion
laughs"), every integer must be written in plain decimal (YAML 1.1 would
otherwise read `017` as octal and `10:20` as 620), unknown keys are errors, and
every path it names must stay inside the spool. `load_job` turns a file into a
resolved `Job` (defaults filled in from config.yaml, every limit checked) or
raises a `JobError` that says where the problem is and how to fix it, with a
"did you mean" for misspelt keys and settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import os
import re
import reprlib
import stat
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .numbers import U64_LIMIT, max_decimal_digits, parse_decimal
from .config import Config
from .errors import JobError
from .job import JOB_ID_PATTERN, JOB_ID_RULE, PRIORITY_MAX, Job, PoolSettings, default_job_id
from .task import Task

_DECIMAL = re.compile(r"-?[0-9]+")
CHUNKS_PER_PROCESS = 4
AUTO_CHUNKSIZE_MAX = 20_000
SIEVE_CHUNK_SEGMENTS_MAX = 4
CHUNK_SECONDS_TARGET = 0.5  # a picked chunk of big numbers takes about this long at worst
BITS_PER_DIGIT = 3.33
_reprlib = reprlib.Repr()
_reprlib.maxstring = _reprlib.maxother = 40
_reprlib.maxlevel = 2


# -- the file format ---------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PoolFields(_Strict):
    processes: Optional[int] = Field(default=None, ge=1)
    chunksize: Optional[int] = Field(default=None, ge=1)
    maxtasksperchild: Optional[int] = Field(default=None, ge=1)
    start_method: Optional[Literal["fork", "spawn", "forkserver"]] = None
    ordered: Optional[bool] = None


class RangeFields(_Strict):
    start: int = Field(ge=0)
    stop: int = Field(ge=0)


class JobFields(_Strict):
    id: Optional[str] = None
    numbers: Optional[list[int]] = None
    numbers_file: Optional[str] = None
    range: Optional[RangeFields] = None
    pool: PoolFields = PoolFields()
    timeout: Optional[Union[int, float]] = Field(default=None, gt=0)
    priority: int = Field(default=0, ge=-PRIORITY_MAX, le=PRIORITY_MAX)
    retries: Optional[int] = Field(default=None, ge=0)
    task: Optional[str] = None
    params: Optional[dict[str, Any]] = None
    on_error: Optional[Literal["fail", "record"]] = None


# -- loading -----------------------------------------------------------------------


class _JobLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):
    """Safe YAML whose integers are plain decimal, as in a numbers file, and no longer
    than a number of `max_bits` bits can be."""

    max_bits = 0

    def construct_decimal_int(self, node: yaml.ScalarNode) -> int:
        where = dict(line=node.start_mark.line + 1, column=node.start_mark.column + 1)
        if not _DECIMAL.fullmatch(node.value):
            raise JobError(_reprlib.repr(node.value) + " is not a plain decimal integer",
                           fix="write integers with digits only: no underscores, hex, octal "
                           "or ':'", **where)
        digits = node.value.lstrip("-").lstrip("0") or "0"
        if len(digits) > max_decimal_digits(self.max_bits):
            raise JobError(f"an integer of {len(digits)} digits is over the limit "
                           f"limits.number_bits = {self.max_bits}",
                           fix="give smaller numbers, or raise limits.number_bits in config.yaml",
                           **where)
        return parse_decimal(node.value)


_JobLoader.add_constructor("tag:yaml.org,2002:int", _JobLoader.construct_decimal_int)


def load_job(path: Path, root: Path, config: Config, name: str | None = None,
             shown: str | None = None) -> Job:
    """Read, validate and resolve the job file at `path` of the spool at `root`.

    `name` is the file's name in jobs/ (default: its own), which gives the job's
    id when it names none. Raises JobError naming the file as `shown` (default
    `jobs/<name>`) and, where YAML knows them, the line and column. Checks every
    limit of `config`.
    """
    name = name or path.name
    try:
        raw = _read_job_bytes(path, config)
    except JobError as exc:
        raise exc.locate(file=shown or f"jobs/{name}")
    return parse_job(raw, root, config, name, shown)


def parse_job(raw: bytes, root: Path, config: Config, name: str, shown: str | None = None) -> Job:
    """Validate and resolve the job file whose bytes are `raw`, as `load_job` does: the
    one check a job passes, whether `runner submit` or the daemon makes it."""
    node = None
    try:
        if len(raw) > config.limits.job_file_bytes:
            raise _over_size(len(raw), config.limits.job_file_bytes)
        data, node = _parse_yaml(raw, config.limits.number_bits)
        fields = _validate(data, node)
        task_name, task, params = _task_and_params(fields, node)
        job = _resolve(fields, default_job_id(Path(name)), root, config)
        return dataclasses.replace(job, task=task_name, params=params, kind=task.kind,
                                   on_error=_on_error(fields, task_name, task))
    except JobError as exc:
        raise exc.locate(file=shown or f"jobs/{name}", **_where_written(node, exc.field))


def _where_written(root: Optional[yaml.Node], field: Optional[str]) -> dict:
    """The line and column where the file writes the dotted `field` (pool.processes,
    numbers[3]), if it does; else nothing (a default, or a field the file lacks)."""
    node = root
    for part in re.findall(r"\[\d+\]|[^.\[\]]+", field or "") if node is not None else ():
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            index = int(part[1:-1])
            node = node.value[index] if index < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value
                         if getattr(key, "value", None) == part), None)
        else:
            node = None
        if node is None:
            return {}
    if node is None or node is root:
        return {}
    return {"line": node.start_mark.line + 1, "column": node.start_mark.column + 1}


def _read_job_bytes(path: Path, config: Config) -> bytes:
    limit = config.limits.job_file_bytes
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        what = ("is a symbolic link, which job files may not be" if exc.errno == errno.ELOOP
                else f"cannot open the job file: {exc.strerror}")
        raise JobError(what, fix="drop a regular file (not a symlink) into jobs/") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise JobError("is not a regular file", fix="drop a regular YAML file into jobs/")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            raise _over_size(info.st_size, limit)
        return handle.read(limit + 1)


def _over_size(size: int, limit: int) -> JobError:
    return JobError(f"the file is {size} bytes, over the limit limits.job_file_bytes = {limit}",
                    fix="put long lists of numbers in a numbers_file, or raise "
                    "limits.job_file_bytes in config.yaml")


def _parse_yaml(raw: bytes, max_bits: int) -> tuple[dict, yaml.Node]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JobError(f"is not UTF-8 text (byte {exc.start})",
                       fix="save the file as UTF-8") from exc
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise JobError("the file is empty",
                       fix="give at least `numbers: [...]`, `numbers_file:` or `range:`")
    loader = _JobLoader(text)
    loader.max_bits = max_bits
    node = None
    try:
        node = loader.get_single_node()
        if node is not None:
            _refuse_aliases(node)  # before anything walks or builds the tree
            try:
                data = loader.construct_document(node)
            except JobError as exc:  # an integer refused as it was read: name its field
                raise exc.locate(field=_field_at(node, exc.line, exc.column))
        else:
            data = None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise JobError(
            f"is not valid YAML: {exc.problem or exc.context}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            fix="check the indentation and punctuation at that spot",
        ) from exc
    except yaml.YAMLError as exc:
        raise JobError(f"is not valid YAML: {exc}", fix="check the file's syntax") from exc
    except RecursionError as exc:
        raise JobError("is nested too deeply", fix="a job file is a flat mapping") from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise JobError(
            f"must be a mapping of fields, not {_kind(data)}",
            line=1,
            fix="start with `numbers: [...]`, `numbers_file: FILE` or `range: {start: A, stop: B}`",
        )
    return data, node


def _field_at(root: yaml.Node, line: int, column: int) -> Optional[str]:
    """The dotted field of the scalar that starts at (line, column), 1-based."""
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        mark = node.start_mark
        if isinstance(node, yaml.ScalarNode) and (mark.line + 1, mark.column + 1) == (line, column):
            return _dotted(path) or None
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (index,)) for index, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend((value, path + (getattr(key, "value", "?"),)) for key, value in node.value)
    return None


def _refuse_aliases(root: yaml.Node) -> None:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise JobError(
                "uses YAML anchors and aliases, which job files may not",
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
                fix="write the values out in full",
            )
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))


def _validate(data: dict, node: yaml.Node) -> JobFields:
    try:
        return JobFields.model_validate(data)
    except ValidationError as exc:
        # an unknown key first: its "did you mean" explains the missing one too
        error = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        loc = tuple(part for part in error["loc"] if part not in _UNION_BRANCHES)
        mark_node = node_at(node, loc, key_only=error["type"] == "extra_forbidden")
        what, fix = explain(error, loc)
        others = exc.error_count() - 1
        if others:
            what += f" (and {others} more problem{'s' if others > 1 else ''})"
        raise JobError(
            what,
            line=mark_node.start_mark.line + 1 if mark_node else None,
            column=mark_node.start_mark.column + 1 if mark_node else None,
            field=None if error["type"] == "invalid_key" else _dotted(loc),
            fix=fix,
        ) from exc


_UNION_BRANCHES = ("int", "float")  # pydantic names the branch of `int | float` in a loc


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        part = part if isinstance(part, int) else _reprlib.repr(part).strip("'\"")
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _task_and_params(fields: JobFields, node: yaml.Node) -> tuple[str, Task, dict]:
    """The registered task the job names (default: primes): its name, itself, and the
    job's params for it, checked
    against the task's own model: a job names no code, and no param its task lacks."""
    from .registry import UnknownTaskError, default_task, registry

    name = default_task(fields.task)
    try:
        task = registry().task(name)
    except UnknownTaskError as error:
        at = node_at(node, ("task",))
        raise JobError(str(error), field="task", line=at.start_mark.line + 1 if at else None,
                       fix="name a task that `runner tasks` lists, or install the package "
                       "that registers it") from None
    model = task.params_model()
    try:
        return name, task, model.model_validate(fields.params or {}).model_dump(mode="json")
    except ValidationError as exc:
        error = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        key = str(error["loc"][0]) if error["loc"] else "?"
        at = node_at(node, ("params", key), key_only=error["type"] == "extra_forbidden")
        known = ", ".join(model.model_fields) or "none"
        if error["type"] == "extra_forbidden":
            what = (f"{_reprlib.repr(key)} is not a param of task {name!r}"
                    f"{_did_you_mean(key, model.model_fields)}")
        elif error["type"] == "missing":
            what = f"task {name!r} needs the param {key!r}"
        else:
            what = f"params.{key} is {_reprlib.repr(error.get('input'))}: {error['msg']}"
        raise JobError(what, field=f"params.{key}",
                       line=at.start_mark.line + 1 if at else None,
                       column=at.start_mark.column + 1 if at else None,
                       fix=f"task {name!r} takes: {known} (`runner tasks` shows their types)"
                       ) from None


def _on_error(fields: JobFields, name: str, task: Task) -> str:
    """What an exception on one number does: fail the job (the default), or, with
    `record`, stand as that number's value (a map task's only: a filter has no values)."""
    if fields.on_error == "record" and task.kind != "map":
        raise JobError(f"on_error: record needs a task that gives values; {name!r} is a filter",
                       field="on_error", fix="leave out on_error (an exception fails the job)")
    return fields.on_error or "fail"


def node_at(node: yaml.Node, loc: tuple, key_only: bool = False) -> Optional[yaml.Node]:
    """The node of the value at `loc` (its key's, with `key_only`), or the nearest one
    the file has on the way to it."""
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(part)]
            if not match:
                return node
            node = match[0][0] if (last and key_only) else match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _model_for(loc: tuple) -> type[BaseModel]:
    return {"pool": PoolFields, "range": RangeFields}.get(loc[0] if len(loc) > 1 else "", JobFields)


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "a list", dict: "a mapping", type(None): "nothing"}.get(type(value), type(value).__name__)


def explain(error: dict, loc: tuple, model: Optional[type[BaseModel]] = None) -> tuple[str, str]:
    """What is wrong and the fix, for one pydantic `error` at `loc` of a job file, or of
    another YAML file whose `model` (at `loc`'s parent) names its settings."""
    kind, value, name = error["type"], error.get("input"), _dotted(loc)
    if kind == "invalid_key":
        return (f"a key is {_kind(value)} ({_reprlib.repr(value)}), not a field name",
                "write each key as a field name, such as numbers, pool or timeout")
    if kind == "extra_forbidden":
        model = model or _model_for(loc)
        what = {PoolFields: "pool setting", RangeFields: "field of a range",
                JobFields: "job field"}.get(model, "setting")
        known = ", ".join(model.model_fields)
        return (f"{_reprlib.repr(loc[-1])} is not a {what}{_did_you_mean(loc[-1], model.model_fields)}",
                f"use one of: {known}")
    if kind == "literal_error":
        allowed = ("fork", "spawn", "forkserver")
        return (f"{_reprlib.repr(value)} is not a start method{_did_you_mean(value, allowed)}",
                "use fork, spawn or forkserver")
    if kind in ("int_type", "float_type", "bool_type", "string_type", "list_type", "model_type",
                "dict_type"):
        want = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
                "string_type": "a string", "list_type": "a list", "model_type": "a mapping",
                "dict_type": "a mapping"}[kind]
        if kind == "int_type":
            whole = meant_whole_number(value)
            if whole is not None:  # 1e6, 1.0e6, "5": what they meant, written as YAML reads it
                quoted = isinstance(value, str) and str(whole) == value.strip()
                return (f"{name} is {_kind(value)} ({_reprlib.repr(value)}), but must be an "
                        "integer written in digits",
                        f"write {whole}" + (" without quotes" if quoted else ""))
        if kind == "float_type" and isinstance(value, str) and _is_number(value):
            return (f"{name} is a string ({_reprlib.repr(value)}), but must be a number",
                    f"write {value.strip()} without quotes")
        return (f"{name} is {_kind(value)} ({_reprlib.repr(value)}), but must be {want}",
                f"write {want}")
    if kind in ("greater_than_equal", "greater_than"):
        return (f"{name} is {_reprlib.repr(value)}, but {error['msg'].lower()}",
                "use a larger value")
    if kind in ("less_than_equal", "less_than"):
        return (f"{name} is {_reprlib.repr(value)}, but {error['msg'].lower()}",
                "use a smaller value")
    if kind == "missing":
        return f"{name} is missing", f"add {name}"
    return f"{name}: {error['msg']}", "see the job file format in the README"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def meant_whole_number(value: Any) -> Optional[int]:
    """The whole number `value` stands for (1e6, 1.0e6, 2.5e3, "17"), if it is a float or
    text that stands for one that fits a job; else None."""
    if isinstance(value, bool) or not isinstance(value, (str, float)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not number.is_integer() or abs(number) >= 1e30:
        return None
    return int(number) if isinstance(value, float) or "e" in value.lower() or "." in value \
        else int(value)


def _cluster_pool(processes: int) -> PoolSettings:
    """A job's pool on a Dask cluster. Its workers are started by `dask worker` and live
    as it says (`--lifetime`, the nanny's memory limits): the job's start_method and
    maxtasksperchild are accepted, so the same job files run, and not used."""
    return PoolSettings(processes=processes, maxtasksperchild=None, start_method="dask worker")


def _resolve(fields: JobFields, default_id: str, root: Path, config: Config) -> Job:
    limits, defaults = config.limits, config.defaults
    if fields.id is not None and not JOB_ID_PATTERN.fullmatch(fields.id):
        raise JobError(f"id {_reprlib.repr(fields.id)} {JOB_ID_RULE}", field="id",
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
    if fields.numbers is not None:
        _check_limit(len(fields.numbers), limits.numbers, "numbers (their count)", "limits.numbers")
        for index, number in enumerate(fields.numbers):
            check_number(number, limits.number_bits, f"numbers[{index}]")
        total = len(fields.numbers)
        bits = max((number.bit_length() for number in fields.numbers), default=0)
        return Job(total=total, numbers=tuple(fields.numbers),
                   chunksize=_chunksize(fields, config, total, processes, bits=bits), **common)
    if fields.range is not None:
        start, stop = fields.range.start, fields.range.stop
        if stop < start:
            raise JobError(f"range stop {stop} is below its start {start}", field="range",
                           fix="ranges are half-open [start, stop), like Python's range")
        _check_limit(stop - start, limits.range_length, "range (its length)", "limits.range_length")
        _check_bits(max(stop - 1, 0), limits.number_bits, "range.stop")
        # past 2^64 each number costs a Baillie-PSW test: chunks are sized by that cost
        chunksize = (_chunksize(fields, config, stop - start, processes, sieved=True)
                     if stop <= U64_LIMIT else
                     _chunksize(fields, config, bits=max(stop - 1, 0).bit_length()))
        return Job(total=stop - start, range=(start, stop), chunksize=chunksize, **common)
    from .chunks import count_numbers_in_file, longest_number_digits  # numpy: only for a file

    relative = resolve_inside(root, fields.numbers_file, "numbers_file")
    try:
        total = count_numbers_in_file(root / relative)
    except OSError as exc:
        raise JobError(f"{_reprlib.repr(relative)} cannot be read: {exc.strerror}", field="numbers_file",
                       fix="make the file readable by the daemon") from exc
    _check_limit(total, limits.numbers, "its count of numbers", "limits.numbers",
                 field="numbers_file")
    bits = int(longest_number_digits(root / relative) * BITS_PER_DIGIT)
    return Job(total=total, numbers_file=relative,
               chunksize=_chunksize(fields, config, total, processes, bits=bits), **common)


def _chunksize(fields: JobFields, config: Config, numbers: int = 0, processes: int = 1,
               sieved: bool = False, bits: int = 0) -> int:
    """The job's chunksize: its own, else one the runner picks, so that each process has
    about CHUNKS_PER_PROCESS chunks. A sieved range (below 2^64) gets whole sieve segments
    a chunk, 1 to SIEVE_CHUNK_SEGMENTS_MAX (each chunk walks the base primes once, and
    costs about a millisecond more); numbers get defaults.chunksize, raised for a big job
    to at most AUTO_CHUNKSIZE_MAX numbers (each chunk costs the daemon a fraction of a
    millisecond). Numbers of `bits` bits past 2^64 get chunks that take about
    CHUNK_SECONDS_TARGET at worst, so that progress, cancel and timeouts move in steps of
    that size, unless config.yaml sets defaults.chunksize. Never over limits.chunksize."""
    if fields.pool.chunksize is not None:
        return fields.pool.chunksize
    if sieved:
        from .tasks.sieve import SIEVE_SEGMENT_NUMBERS  # FLINT: only for a range

        segments = numbers // (processes * CHUNKS_PER_PROCESS * SIEVE_SEGMENT_NUMBERS)
        picked = max(config.defaults.chunksize,
                     min(SIEVE_CHUNK_SEGMENTS_MAX, max(1, segments)) * SIEVE_SEGMENT_NUMBERS)
    else:
        picked = max(config.defaults.chunksize,
                     min(AUTO_CHUNKSIZE_MAX, numbers // (processes * CHUNKS_PER_PROCESS)))
    if bits > U64_LIMIT.bit_length() - 1 and "chunksize" not in config.defaults.model_fields_set:
        from .tasks.primes import worst_seconds_per_number

        picked = min(picked, max(1, int(CHUNK_SECONDS_TARGET / worst_seconds_per_number(bits))))
    return min(picked, config.limits.chunksize)


def resolve_inside(root: Path, name: str, field: str) -> str:
    """`name` as a path relative to the spool `root`, refused if it leaves the spool.

    Absolute paths, `..` and symlinks anywhere on the way are refused; the file
    must be a regular file. Nothing is opened, so a FIFO cannot block us.
    """
    candidate = Path(name)
    if "\0" in name or candidate.is_absolute() or ".." in candidate.parts or not candidate.parts:
        raise JobError(f"{_reprlib.repr(name)} is not a path inside the spool", field=field,
                       fix="give a path relative to the spool's root, without '..'")
    current = root
    for part in candidate.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except OSError as exc:
            raise JobError(f"{_reprlib.repr(name)} cannot be read: {exc.strerror}", field=field,
                           fix=f"check the file's name; paths are relative to the spool's root, "
                           f"{root}") from exc
        if stat.S_ISLNK(info.st_mode):
            raise JobError(f"{_reprlib.repr(name)} goes through a symlink ({current.relative_to(root)})",
                           field=field, fix="copy the file into the spool instead of linking it")
    if not stat.S_ISREG(info.st_mode):
        raise JobError(f"{_reprlib.repr(name)} is not a regular file", field=field,
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
    _check_bits(number, max_bits, field)


def _check_bits(number: int, limit: int, field: str) -> None:
    if number.bit_length() > limit:
        raise JobError(f"the number has {number.bit_length()} bits, over the limit "
                       f"limits.number_bits = {limit}", field=field,
                       fix=f"give numbers of at most {limit} bits, or raise limits.number_bits "
                       "in config.yaml")
