"""The task: the work a job runs on each of its numbers, registered by name.

A Python package registers tasks under the entry-point group `runner.tasks`
(registry.py finds them); a job names one (`task: collatz`, default `primes`) and
gives its params, and never names code. A registered object is either a plain
function `f(n, *, param=default, ...) -> value` (a map task: one value a number;
its keyword-only parameters are its params, its docstring's first line its
description) or a `Task`, which may say more: a filter (keep the numbers whose
item is true), a function for a whole chunk, an initializer run once in each
worker process, a pydantic model of its params.

`compute` runs one chunk of a task inside a worker: it is what a pool worker or a
Dask worker calls, and it gives back what the checkpoint records, whatever the
task: a `ChunkResult` (numbers done, lines of output, the output as text, one line
a kept number or a value).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional

from . import chunk_progress
from .checkpoint import ChunkResult

Kind = Literal["map", "filter"]


@dataclass(frozen=True)
class Task:
    """A task as its package registers it; see the module's docstring."""

    item: Callable[..., Any]
    kind: Kind = "map"
    chunk: Optional[Callable[..., list]] = None  # list[int] -> one value each, in order
    init: Optional[Callable[..., None]] = None  # once in each worker process, with the params
    params: Optional[type] = None  # a pydantic model; else taken from item's signature
    doc: Optional[str] = None
    # about what one number of `bits` bits may cost at worst, in seconds: a job that names
    # no chunksize then gets chunks of about half a second at worst, so that its progress,
    # cancel and timeouts move in steps of that size (None: chunks by count alone)
    worst_seconds: Optional[Callable[[int], float]] = None
    # a range below 2^64 is cut into whole blocks of this many numbers (the primes task
    # sieves them a segment at a time); None: a range's numbers are chunked like any others
    range_block: Optional[int] = None
    # the built-in primes task runs a chunk's payload itself (a sieve for ranges, numpy
    # for files): (numbers done, primes found, the primes as text)
    payload: Optional[Callable[[Any], tuple[int, int, bytes]]] = field(default=None, repr=False)

    def description(self) -> str:
        """Its first line of doc, or of its item's docstring."""
        text = self.doc or inspect.getdoc(self.item) or ""
        return text.strip().splitlines()[0] if text.strip() else ""

    def params_model(self) -> type:
        """The pydantic model its params are checked with (unknown params refused): made
        once a task (the daemon checks every job's params with it)."""
        if self.params is not None:
            return self.params
        try:
            return _model_of_signature(self.item)
        except TypeError:  # an unhashable callable object: its model is made each time
            return _model_of_signature.__wrapped__(self.item)

    def needs_no_params(self) -> bool:
        """Whether a job that gives no params is sure to pass their check: told from
        item's signature, without pydantic (about 0.1 s to load): no params model of its
        own, and every keyword-only parameter with a default of a JSON scalar type,
        annotated with that type, its name (as `from __future__ import annotations`
        leaves it), or not at all. False where that cannot be told (a signature inspect
        cannot read)."""
        if self.params is not None:
            return False
        try:
            parameters = inspect.signature(self.item).parameters.values()
        except (TypeError, ValueError):
            return False
        return all(type(p.default) in _JSON_SCALARS and p.annotation in (
                       inspect.Parameter.empty, type(p.default), type(p.default).__name__)
                   for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


_JSON_SCALARS = (bool, int, float, str, type(None))


@functools.cache
def _model_of_signature(item: Callable) -> type:
    """A pydantic model of `item`'s keyword-only parameters, refusing any other."""
    from pydantic import ConfigDict, create_model

    fields = {}
    for name, parameter in inspect.signature(item).parameters.items():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        annotation = Any if parameter.annotation is inspect.Parameter.empty \
            else parameter.annotation
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (annotation, default)
    return create_model(f"{item.__name__}_params", __config__=ConfigDict(extra="forbid"),
                        **fields)


def as_task(registered: object) -> Task:
    """The Task a registered object stands for: itself, or a plain function as a map
    task. TypeError for anything else."""
    if isinstance(registered, Task):
        return registered
    if callable(registered) and not isinstance(registered, type):
        return Task(item=registered)
    raise TypeError(f"registers {type(registered).__name__}, which is neither a function "
                    "nor a runner.Task")


@dataclass(frozen=True)
class TaskCall:
    """Which task a chunk runs, and with what params: what a worker is sent."""

    name: str
    params: dict = field(default_factory=dict)
    on_error: str = "fail"  # "record": an exception on a number is that number's value
    # "package version" of the task the job was checked with: a worker whose own
    # registry has another (a Dask worker, a package upgraded under the daemon) refuses it
    version: str = ""


class TaskUnavailable(Exception):
    """This worker cannot run the task a chunk names: it lacks it, or has another version."""


class TaskItemError(Exception):
    """A task raised on one number (or in its init, `number` None): which number, the
    exception and where it was raised (picklable: it crosses from the worker whole)."""

    def __init__(self, number: Optional[int], error: str, where: str):
        super().__init__(number, error, where)
        self.number, self.error, self.where = number, error, where

    def __str__(self) -> str:
        on = "in its init" if self.number is None else f"on the number {self.number}"
        return f"{self.error} {on}, raised at {self.where}"


_initialized: set[tuple[str, str]] = set()  # (task, params) whose init ran in this process
PROGRESS_BATCH_SECONDS = 0.01
PROGRESS_BATCH_MAX = 256  # numbers


def compute(call: TaskCall, payload) -> ChunkResult:
    """Run `call`'s task on one chunk's numbers in this process: its numbers done, its
    output lines, and its output. A filter's output is its kept numbers, one a line; a
    map's, one JSON array ["n", value] a line (n as a decimal string: JSON readers round
    big integers). TaskUnavailable if this process has not the task's version."""
    from .chunks import numbers_of

    task = _own_task(call)
    if task.payload is not None:
        return ChunkResult(*task.payload(payload))
    key = (call.name, json.dumps(call.params, sort_keys=True))
    if task.init is not None and key not in _initialized:
        try:
            task.init(**call.params)
        except Exception as error:
            raise _item_error(None, error) from None
        _initialized.add(key)
    done = found = 0
    parts: list[bytes] = []
    for numbers in numbers_of(payload):
        values = _values(task, call, numbers)
        done += len(numbers)
        if task.kind == "filter":
            kept = [n for n, keep in zip(numbers, values) if keep]
            found += len(kept)
            parts.append("".join(f"{n}\n" for n in kept).encode())
        else:
            found += len(values)
            parts.append(_map_lines(numbers, values))
    return ChunkResult(done, found, b"".join(parts))


def _own_task(call: TaskCall) -> Task:
    from .registry import UnknownTaskError, registry

    try:
        found = registry().lookup(call.name)
    except UnknownTaskError as error:
        raise TaskUnavailable(str(error)) from None
    if call.version and found.release != call.version:
        raise TaskUnavailable(f"task {call.name!r} here is {found.release}, not {call.version} "
                              "as the job was checked with")
    return found.task


def _map_lines(numbers: list[int], values: list) -> bytes:
    """A map's output: one JSON array ["n", value] a line, n as a decimal string."""
    if all(type(value) is int for value in values):  # the common case, in a tenth of the time
        pairs: list = [None] * (2 * len(numbers))
        pairs[::2], pairs[1::2] = numbers, values
        # the chunk's lines in one %-format, in C: 55% of the time of an f-string a line
        return (b'["%d", %d]\n' * len(numbers)) % tuple(pairs)
    lines = []
    for n, value in zip(numbers, values):
        shown = _pairs_json(value) if type(value) is list else None
        lines.append(f'["{n}", {shown}]\n' if shown is not None else
                     json.dumps([str(n), value]) + "\n")
    return "".join(lines).encode()


def _pairs_json(value: list) -> Optional[str]:
    """json.dumps(value) for a list of [decimal digits, int] pairs (the factor task's
    [[p, e], ...]), in half the time; None for any other list."""
    parts = []
    for pair in value:
        if type(pair) is not list or len(pair) != 2:
            return None
        digits, count = pair
        if type(digits) is not str or type(count) is not int or not (
                digits.isascii() and digits.isdigit()):
            return None
        parts.append(f'["{digits}", {count}]')
    return "[" + ", ".join(parts) + "]"


def _values(task: Task, call: TaskCall, numbers: list[int]) -> list:
    params = call.params
    if task.chunk is not None:
        try:
            values = list(task.chunk(numbers, **params))
            chunk_progress.tested(len(values), _found(task, values))
        except Exception as error:
            if call.on_error == "record":  # number by number, to find which ones raise
                return _values(dataclasses.replace(task, chunk=None), call, numbers)
            raise _item_error(numbers[0] if numbers else 0, error) from None
        if len(values) != len(numbers):
            raise TaskItemError(numbers[0] if numbers else 0,
                                f"ValueError: its chunk function gave {len(values)} values "
                                f"for {len(numbers)} numbers", task.chunk.__qualname__)
        return values
    values: list = []
    item = functools.partial(task.item, **params) if params else task.item
    # progress is told in batches that grow while they take under PROGRESS_BATCH_SECONDS:
    # a number at a time for a slow item; a batch is mapped in C (`map`), which saves a
    # fast item a fraction of a microsecond a number against a loop in Python
    batch, done = 1, 0
    while done < len(numbers):
        stop, began = min(done + batch, len(numbers)), time.monotonic()
        while len(values) < stop:
            try:
                values.extend(map(item, numbers[len(values):stop]))
            except Exception as error:  # the values before the number that raised are in
                if call.on_error != "record":
                    raise _item_error(numbers[len(values)], error) from None
                values.append({"error": f"{type(error).__name__}: {error}"})
        chunk_progress.tested(stop - done, _found(task, values[done:stop]))
        if time.monotonic() - began < PROGRESS_BATCH_SECONDS:
            batch = min(2 * batch, PROGRESS_BATCH_MAX)
        done = stop
    return values


def _found(task: Task, values: list) -> int:
    """How many output lines `values` make: the kept numbers of a filter, every value of
    a map."""
    return sum(map(bool, values)) if task.kind == "filter" else len(values)


def _item_error(number: Optional[int], error: Exception) -> TaskItemError:
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f"{frame.filename}:{frame.lineno} in {frame.name}" if frame else "?"
    return TaskItemError(number, f"{type(error).__name__}: {error}", where)
