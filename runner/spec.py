"""The spec: a job as the daemon runs it, checked with every default filled in.

jobfile.py makes it from a job file; the daemon saves it in the job's folder (spec.json)
as the job starts, so that a restarted daemon runs the same job, cut into the same chunks.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Optional


@dataclass(frozen=True)
class PoolSettings:
    """The pool a job runs on; jobs with equal settings share one persistent pool."""

    processes: int
    maxtasksperchild: Optional[int]
    start_method: str


@dataclass(frozen=True)
class Job:
    """A validated job with every default filled in: what the daemon runs.

    Exactly one of `numbers`, `numbers_file` (a path relative to the spool root)
    and `range` (start, stop) is set. `total` is how many numbers it tests.
    """

    id: str
    pool: PoolSettings
    chunksize: int
    ordered: bool
    timeout: float
    total: int
    numbers: Optional[tuple[int, ...]] = None
    numbers_file: Optional[str] = None
    range: Optional[tuple[int, int]] = None
    submitted_as: Optional[str] = None  # the name `runner submit` got for the numbers file
    priority: int = 0  # higher runs first; equal priorities in the order they were queued
    retries: int = 2  # times a chunk whose worker died is tried again before the job fails
    task: str = "primes"  # the registered task it runs (registry.py)
    params: dict = field(default_factory=dict)  # its params, checked against the task's model
    on_error: str = "fail"  # an exception on one number: "fail" the job, or "record" it as the value
    kind: str = "filter"  # its task's kind when it was checked: "filter" or "map"
    task_version: str = ""  # its task's "package version" when it was checked
    # (digits, cap) pairs: a chunk holds at most `cap` numbers of that many digits, for a
    # task whose numbers cost more the longer they are (plan.py); other numbers: chunksize
    chunk_caps: Optional[tuple[tuple[int, int], ...]] = None
    # its chunksize was picked by the runner for a task of unknown cost: its last chunks
    # shrink, so that its workers end together (plan.chunk_sizes)
    tapered: bool = False

    @property
    def numbers_file_shown(self) -> Optional[str]:
        """How messages name the numbers file: as the person gave it."""
        return self.submitted_as or self.numbers_file

    def task_call(self):
        """The `task.TaskCall` its chunks are sent with: the task by name, never code."""
        from .task import TaskCall  # the CLI's imports stay light

        return TaskCall(self.task, self.params, self.on_error, self.task_version)

    def to_dict(self) -> dict:
        """A plain mapping, kept in the spool so a restarted daemon runs the same job."""
        # field by field: asdict would copy each of a job's numbers, one call a number
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["pool"] = asdict(self.pool)
        out["params"] = copy.deepcopy(self.params)
        for name in ("numbers", "range"):
            if out[name] is not None:
                out[name] = list(out[name])
        if self.chunk_caps is not None:
            out["chunk_caps"] = [list(pair) for pair in self.chunk_caps]
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        """The inverse of `to_dict`."""
        data = dict(data)
        data["pool"] = PoolSettings(**data["pool"])
        if data.get("numbers") is not None:
            data["numbers"] = tuple(data["numbers"])
        if data.get("range") is not None:
            data["range"] = tuple(data["range"])
        if data.get("chunk_caps") is not None:
            data["chunk_caps"] = tuple(map(tuple, data["chunk_caps"]))
        return cls(**data)

    def settings_summary(self) -> dict:
        """The pool settings actually used, as reported in the result."""
        return {
            "processes": self.pool.processes,
            "chunksize": self.chunksize,
            "maxtasksperchild": self.pool.maxtasksperchild,
            "start_method": self.pool.start_method,
            "ordered": self.ordered,
            "timeout": self.timeout,
        }
