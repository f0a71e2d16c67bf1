"""The task registry: every task that installed packages register under the entry-point
group `runner.tasks`, found once per process (importlib.metadata does not cache).

Each entry point is loaded on its own, guarded: one that fails to import, or names
something that is no task, is recorded with its error and every other task still
works; two packages claiming one name is an error naming both, and neither runs.
A job can name only what is here: names are `[a-z][a-z0-9_]{0,31}`, never a module,
a path or a function.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Optional

from .errors import RunnerError
from .task import Task, as_task

GROUP = "runner.tasks"
TASK_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
DEFAULT_TASK = "primes"


@dataclass(frozen=True)
class RegisteredTask:
    """A task that loaded, with the package that registered it."""

    name: str
    task: Task
    package: str
    version: str
    target: str  # the entry point's value, e.g. mytasks:collatz_steps


@dataclass(frozen=True)
class BrokenTask:
    """An entry point that gives no task: why, and which package(s) registered it."""

    name: str
    packages: tuple[str, ...]
    target: str
    error: str


class UnknownTaskError(RunnerError):
    """A job names a task that is not registered, or that is broken."""


class Registry:
    """The tasks of this process's installed packages, as found once."""

    def __init__(self, tasks: dict[str, RegisteredTask], broken: dict[str, BrokenTask]):
        self.tasks, self.broken = tasks, broken

    def task(self, name: str) -> Task:
        """The task registered as `name`; UnknownTaskError saying why not, with a "did
        you mean" and the tasks there are."""
        return self.lookup(name).task

    def lookup(self, name: str) -> RegisteredTask:
        """The registered task `name`, with its package; UnknownTaskError if none."""
        found = self.tasks.get(name)
        if found is not None:
            return found
        if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
            raise UnknownTaskError(
                f"{name!r} is not a task name: a job names a registered task (lowercase "
                "letters, digits and '_'), never a module, a function or a path")
        broken = self.broken.get(name)
        if broken is not None:
            raise UnknownTaskError(f"task {name!r} is broken: {broken.error}")
        close = difflib.get_close_matches(name, list(self.tasks), n=1, cutoff=0.6)
        known = ", ".join(sorted(self.tasks)) or "none"
        raise UnknownTaskError(f"no task {name!r} is installed"
                               + (f"; did you mean {close[0]!r}?" if close else "")
                               + f" (installed: {known})")


@functools.cache
def registry() -> Registry:
    """Every task installed, found (and loaded) the first time it is asked for."""
    claims: dict[str, list] = {}
    for point in entry_points(group=GROUP):
        package = point.dist.name if point.dist is not None else "?"
        same = [p for p in claims.get(point.name, []) if _package(p) == package]
        if not same:  # a package seen twice on the path (an editable install) counts once
            claims.setdefault(point.name, []).append(point)
    tasks, broken = {}, {}
    for name, points in claims.items():
        packages = tuple(_package(point) for point in points)
        if len(points) > 1:
            broken[name] = BrokenTask(name, packages, ", ".join(p.value for p in points),
                                      f"claimed by {len(points)} packages: "
                                      f"{' and '.join(packages)}; uninstall one")
            continue
        point = points[0]
        if not TASK_NAME.fullmatch(name):
            broken[name] = BrokenTask(name, packages, point.value,
                                      "is not a task name ([a-z][a-z0-9_]{0,31})")
            continue
        try:
            task = as_task(point.load())
        except (Exception, SystemExit) as error:  # a plugin's own bug: reported, never fatal
            broken[name] = BrokenTask(name, packages, point.value,
                                      f"{point.value} failed to load: "
                                      f"{type(error).__name__}: {error}")
            continue
        version = point.dist.version if point.dist is not None else "?"
        tasks[name] = RegisteredTask(name, task, packages[0], version, point.value)
    return Registry(tasks, broken)


def _package(point) -> str:
    return point.dist.name if point.dist is not None else "?"


def describe(found: RegisteredTask) -> dict:
    """What `runner tasks` shows of a task: name, kind, package, version, description,
    params (their JSON schema's properties)."""
    schema = found.task.params_model().model_json_schema()
    return {"name": found.name, "kind": found.task.kind, "package": found.package,
            "version": found.version, "description": found.task.description(),
            "params": schema.get("properties", {}), "required": schema.get("required", []),
            "target": found.target}


def default_task(name: Optional[str]) -> str:
    """The task a job runs: the one it names, else the built-in primes."""
    return name or DEFAULT_TASK
