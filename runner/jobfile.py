"""The job file: YAML, data only, checked against config.yaml's limits.

A job file is loaded safely, anchors and aliases are refused (no "billion
laughs"), every integer must be written in plain decimal (YAML 1.1 would
otherwise read `017` as octal and `10:20` as 620), unknown keys are errors, and
every path it names must stay inside the spool. `load_job` turns a file into a
resolved `Job` (resolve.py fills in config.yaml's defaults, checks every limit and
picks the chunksize) or raises a `JobError` that says where the problem is and how
to fix it, with a "did you mean" for misspelt keys and settings (the words are
schema_errors.py's, the places in the file yaml_places.py's).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, Field, ValidationError

from .config import Config, StartMethod, StrictModel
from .errors import JobError, short_repr
from .job import PRIORITY_MAX, default_job_id
from .numbers import max_decimal_digits, parse_decimal
from .registry import RegisteredTask
from .resolve import resolve_job
from .safe_open import NotARegularFile, open_regular
from .schema_errors import (did_you_mean, explain, first_error, kind_of, loc_of,
                            more_problems)
from .spec import Job
from .task import Task
from .yaml_places import dotted, field_at, node_at, place, where_written

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

    max_bits = max_digits = 0

    def construct_decimal_int(self, node: yaml.ScalarNode) -> int:
        # once for each integer of a job file: the place in the file only for an error
        value = node.value
        if not _DECIMAL.fullmatch(value):
            raise JobError(short_repr(value) + " is not a plain decimal integer",
                           fix="write integers with digits only: no underscores, hex, octal "
                           "or ':'", **place(node))
        digits = len(value.lstrip("-").lstrip("0")) or 1
        if digits > self.max_digits:
            raise JobError(f"an integer of {digits} digits is over the limit "
                           f"limits.number_bits = {self.max_bits}",
                           fix="give smaller numbers, or raise limits.number_bits in config.yaml",
                           **place(node))
        return parse_decimal(value)


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
        raise exc.locate(file=shown or f"jobs/{name}", **where_written(node, exc.field))


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
    loader.max_bits, loader.max_digits = max_bits, max_decimal_digits(max_bits)
    node = None
    try:
        node = loader.get_single_node()
        if node is not None:
            _refuse_aliases(node)  # before anything walks or builds the tree
            try:
                data = loader.construct_document(node)
            except JobError as exc:  # an integer refused as it was read: name its field
                raise exc.locate(field=field_at(node, exc.line, exc.column))
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
            f"must be a mapping of fields, not {kind_of(data)}",
            line=1,
            fix="start with `numbers: [...]`, `numbers_file: FILE` or `range: {start: A, stop: B}`",
        )
    return data, node


def _refuse_aliases(root: yaml.Node) -> None:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise JobError("uses YAML anchors and aliases, which job files may not",
                           fix="write the values out in full", **place(node))
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
        error = first_error(exc)
        loc = loc_of(error)
        at = node_at(node, loc, key_only=error["type"] == "extra_forbidden")
        what, fix = explain(error, loc, *_model_at(loc))
        raise JobError(what + more_problems(exc),
                       field=None if error["type"] == "invalid_key" else dotted(loc),
                       fix=fix, **place(at)) from exc


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
                       fix=error.fix) from None
    model = found.task.params_model()
    try:
        return found, model.model_validate(fields.params or {}).model_dump(mode="json")
    except ValidationError as exc:
        error = first_error(exc)
        key = str(error["loc"][0]) if error["loc"] else "?"
        at = node_at(node, ("params", key), key_only=error["type"] == "extra_forbidden")
        known = ", ".join(model.model_fields) or "none"
        if error["type"] == "extra_forbidden":
            what = (f"{short_repr(key)} is not a param of task {name!r}"
                    f"{did_you_mean(key, model.model_fields)}")
        elif error["type"] == "missing":
            what = f"task {name!r} needs the param {key!r}"
        else:
            what = f"params.{key} is {short_repr(error.get('input'))}: {error['msg']}"
        raise JobError(what, field=f"params.{key}", **place(at),
                       fix=f"task {name!r} takes: {known} (`runner tasks` shows their types)"
                       ) from None


def _on_error(fields: JobFields, name: str, task: Task) -> str:
    """What an exception on one number does: fail the job (the default), or, with
    `record`, stand as that number's value (a map task's only: a filter has no values)."""
    if fields.on_error == "record" and task.kind != "map":
        raise JobError(f"on_error: record needs a task that gives values; {name!r} is a filter",
                       field="on_error", fix="leave out on_error (an exception fails the job)")
    return fields.on_error or "fail"


_NOUNS = {PoolFields: "pool setting", RangeFields: "field of a range", JobFields: "job field"}


def _model_at(loc: tuple) -> tuple[type[BaseModel], str]:
    """The model whose field `loc` names, and what its fields are called."""
    model = {"pool": PoolFields, "range": RangeFields}.get(loc[0] if len(loc) > 1 else "", JobFields)
    return model, _NOUNS[model]
