"""The job file: YAML, data only, checked against config.yaml's limits.

A job file is loaded safely, anchors and aliases are refused (no "billion
laughs"), every integer must be written in plain decimal (YAML 1.1 would
otherwise read `017` as octal and `10:20` as 620), unknown keys are errors, and
every path it names must stay inside the spool. `load_job` turns a file into a
resolved `Job` (resolve.py fills in config.yaml's defaults, checks every limit and
picks the chunksize) or raises a `JobError` that says where the problem is and how
to fix it, with a "did you mean" for misspelt keys and settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, Field, ValidationError

from .config import Config, StartMethod, StrictModel
from .errors import JobError, short_repr
from .job import PRIORITY_MAX, START_METHODS, Job, default_job_id
from .numbers import max_decimal_digits, parse_decimal
from .registry import RegisteredTask
from .resolve import resolve_job
from .safe_open import NotARegularFile, open_regular
from .task import Task

_DECIMAL = re.compile(r"-?[0-9]+")


# -- the file format ---------------------------------------------------------------


class PoolFields(StrictModel):
    processes: Optional[int] = Field(default=None, ge=1)
    chunksize: Optional[int] = Field(default=None, ge=1)
    maxtasksperchild: Optional[int] = Field(default=None, ge=1)
    start_method: Optional[StartMethod] = None
    ordered: Optional[bool] = None


class RangeFields(StrictModel):
    start: int = Field(ge=0)
    stop: int = Field(ge=0)


class JobFields(StrictModel):
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
            raise JobError(short_repr(node.value) + " is not a plain decimal integer",
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
        found, params = _task_and_params(fields, node)
        job = resolve_job(fields, found.task, default_job_id(Path(name)), root, config)
        return dataclasses.replace(job, task=found.name, params=params, kind=found.task.kind,
                                   task_version=found.release,
                                   on_error=_on_error(fields, found.name, found.task))
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
        fd, info = open_regular(path)
    except NotARegularFile:
        raise JobError("is not a regular file", fix="drop a regular YAML file into jobs/") from None
    except OSError as exc:
        what = ("is a symbolic link, which job files may not be" if exc.errno == errno.ELOOP
                else f"cannot open the job file: {exc.strerror}")
        raise JobError(what, fix="drop a regular file (not a symlink) into jobs/") from exc
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
        part = part if isinstance(part, int) else short_repr(part).strip("'\"")
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _task_and_params(fields: JobFields, node: yaml.Node) -> tuple[RegisteredTask, dict]:
    """The registered task the job names (default: primes), and the job's params for it,
    checked against the task's own model: a job names no code, and no param its task lacks."""
    from .registry import UnknownTaskError, default_task, registry

    name = default_task(fields.task)
    try:
        found = registry().lookup(name)
    except UnknownTaskError as error:
        at = node_at(node, ("task",))
        raise JobError(str(error), field="task", line=at.start_mark.line + 1 if at else None,
                       fix="name a task that `runner tasks` lists, or install the package "
                       "that registers it") from None
    model = found.task.params_model()
    try:
        return found, model.model_validate(fields.params or {}).model_dump(mode="json")
    except ValidationError as exc:
        error = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        key = str(error["loc"][0]) if error["loc"] else "?"
        at = node_at(node, ("params", key), key_only=error["type"] == "extra_forbidden")
        known = ", ".join(model.model_fields) or "none"
        if error["type"] == "extra_forbidden":
            what = (f"{short_repr(key)} is not a param of task {name!r}"
                    f"{_did_you_mean(key, model.model_fields)}")
        elif error["type"] == "missing":
            what = f"task {name!r} needs the param {key!r}"
        else:
            what = f"params.{key} is {short_repr(error.get('input'))}: {error['msg']}"
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
        return (f"a key is {_kind(value)} ({short_repr(value)}), not a field name",
                "write each key as a field name, such as numbers, pool or timeout")
    if kind == "extra_forbidden":
        model = model or _model_for(loc)
        what = {PoolFields: "pool setting", RangeFields: "field of a range",
                JobFields: "job field"}.get(model, "setting")
        known = ", ".join(model.model_fields)
        return (f"{short_repr(loc[-1])} is not a {what}{_did_you_mean(loc[-1], model.model_fields)}",
                f"use one of: {known}")
    if kind == "literal_error":
        return (f"{short_repr(value)} is not a start method"
                f"{_did_you_mean(value, START_METHODS)}",
                f"use {', '.join(START_METHODS[:-1])} or {START_METHODS[-1]}")
    if kind in ("int_type", "float_type", "bool_type", "string_type", "list_type", "model_type",
                "dict_type"):
        want = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
                "string_type": "a string", "list_type": "a list", "model_type": "a mapping",
                "dict_type": "a mapping"}[kind]
        if kind == "int_type":
            whole = meant_whole_number(value)
            if whole is not None:  # 1e6, 1.0e6, "5": what they meant, written as YAML reads it
                quoted = isinstance(value, str) and str(whole) == value.strip()
                return (f"{name} is {_kind(value)} ({short_repr(value)}), but must be an "
                        "integer written in digits",
                        f"write {whole}" + (" without quotes" if quoted else ""))
        if kind == "float_type" and isinstance(value, str) and _is_number(value):
            return (f"{name} is a string ({short_repr(value)}), but must be a number",
                    f"write {value.strip()} without quotes")
        return (f"{name} is {_kind(value)} ({short_repr(value)}), but must be {want}",
                f"write {want}")
    if kind in ("greater_than_equal", "greater_than"):
        return (f"{name} is {short_repr(value)}, but {error['msg'].lower()}",
                "use a larger value")
    if kind in ("less_than_equal", "less_than"):
        return (f"{name} is {short_repr(value)}, but {error['msg'].lower()}",
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
