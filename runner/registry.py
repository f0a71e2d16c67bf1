"""The task registry: every task that installed packages register under the entry-point
group `runner.tasks`, found once per process (importlib.metadata does not cache).

Each entry point is loaded on its own, guarded: one that fails to import, or names
something that is no task, is recorded with its error and every other task still
works; two packages claiming one name is an error naming both, and neither runs.
Where a hang or a crash must not spread (the daemon, `runner tasks`), a plugin is
first loaded in a process of its own (`guard_loads`): an import that hangs past its
time, or kills its process, is recorded as broken instead of taking this one down.
A job can name only what is here: names are `[a-z][a-z0-9_]{0,31}`, never a module,
a path or a function.
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Iterator, Optional

from .errors import RunnerError
from .task import Task, as_task

GROUP = "runner.tasks"
TASK_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
DEFAULT_TASK = "primes"
OWN_PACKAGE = "runner"  # its built-in tasks are trusted: loaded with no trial process
# loads one entry point (its module and attribute path from argv) in a process of its own,
# as EntryPoint.load does, without importlib.metadata (20 to 40 ms of the trial to import)
_TRIAL_LOAD = """
import sys
from functools import reduce
from importlib import import_module
module, attr = sys.argv[1:]
reduce(getattr, filter(None, attr.split(".")), import_module(module))
"""


@dataclass(frozen=True)
class RegisteredTask:
    """A task that loaded, with the package that registered it."""

    name: str
    task: Task
    package: str
    version: str
    target: str  # the entry point's value, e.g. mytasks:collatz_steps

    @property
    def release(self) -> str:
        """Its package and version, `runner-example-tasks 1.0.0`: what workers must have."""
        return f"{self.package} {self.version}"


@dataclass(frozen=True)
class BrokenTask:
    """An entry point that gives no task: why, and which package(s) registered it."""

    name: str
    packages: tuple[str, ...]
    target: str
    error: str


@dataclass
class _Trial:
    """A plugin being loaded in a process of its own, and since when."""

    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, point) -> "_Trial":
        return cls(subprocess.Popen(
            [sys.executable, "-c", _TRIAL_LOAD, point.module, point.attr or ""],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE))

    def stop(self) -> None:
        self.process.kill()
        self.process.communicate()


class UnknownTaskError(RunnerError):
    """A job names a task that is not registered, or that is broken; `fix` says what to
    do about it."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


# a daemon finds the installed tasks once, as it starts: a package installed or mended
# since is not seen until it starts again
_RESTART = ("restart the daemon, which finds the installed tasks as it starts (stop it, then "
            "`runner start`)")


class Registry:
    """The tasks of this process's installed packages: their entry points found once,
    each loaded when first asked for (a plugin's imports cost only the jobs that use it)."""

    def __init__(self, points: dict[str, list]):
        self._points = points
        self._loaded: dict[str, RegisteredTask] = {}
        self._broken: dict[str, BrokenTask] = {}
        self._trial_seconds: Optional[float] = None
        self._trials: dict[str, _Trial] = {}  # started ahead of their lookup, by task name

    def guard_loads(self, seconds: float) -> None:
        """From now on, load each plugin first in a process of its own, given `seconds`:
        one whose import hangs or kills its process is broken, and this process lives."""
        self._trial_seconds = seconds

    @contextlib.contextmanager
    def loading_ahead(self, name: Optional[str]) -> Iterator[None]:
        """While in it, task `name`'s plugin (if a package other than runner registers it,
        once) is loaded in a process of its own, so that a guarded lookup in it finds the
        verdict under way: the door's trial overlaps its copy of the numbers. A trial no
        lookup took is killed on leaving."""
        points = self._points.get(name, []) if name is not None else []
        ahead = len(points) == 1 and not self.is_own(name) \
            and name not in self._loaded and name not in self._broken
        if ahead:
            self._trials[name] = _Trial.start(points[0])
        try:
            yield
        finally:
            trial = self._trials.pop(name, None) if ahead else None
            if trial is not None:
                trial.stop()

    def is_own(self, name: str) -> bool:
        """Whether `name` is one of runner's own tasks, and no other package claims it
        (found from the entry points alone: nothing is imported)."""
        points = self._points.get(name, [])
        return len(points) == 1 and _package(points[0]) == OWN_PACKAGE

    def lookup(self, name: str) -> RegisteredTask:
        """The registered task `name`, with its package; UnknownTaskError saying why not,
        with a "did you mean" and the tasks there are."""
        if isinstance(name, str) and name in self._points:
            self._load(name)
        found = self._loaded.get(name)
        if found is not None:
            return found
        if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
            raise UnknownTaskError(
                f"{name!r} is not a task name: a job names a registered task (lowercase "
                "letters, digits and '_'), never a module, a function or a path",
                fix="name a task that `runner tasks` lists")
        broken = self._broken.get(name)
        if broken is not None:
            raise UnknownTaskError(f"task {name!r} is broken: {broken.error}", fix=(
                f"mend its package (`runner tasks` shows why), then {_RESTART}"))
        if any(point.name == name for point in entry_points(group=GROUP)):  # 20 to 35 ms
            raise UnknownTaskError(f"task {name!r} was installed after this process found "
                                   "the installed tasks", fix=_RESTART)
        from difflib import get_close_matches  # only for a mistake: 0.2 MiB of the daemon

        names = sorted(n for n in self._points if TASK_NAME.fullmatch(n))
        close = get_close_matches(name, names, n=1, cutoff=0.6)
        raise UnknownTaskError(f"no task {name!r} is installed"
                               + (f"; did you mean {close[0]!r}?" if close else "")
                               + f" (installed: {', '.join(names) or 'none'})",
                               fix=f"name a task that `runner tasks` lists, or install the "
                               f"package that registers it, then {_RESTART}")

    def releases(self) -> dict[str, str]:
        """Each task name found, with the release of the package that registers it
        (`package version`, as RegisteredTask.release says it), read from the entry
        points alone: no plugin is loaded. A name two packages claim is left out."""
        return {name: "{} {}".format(*_release(points[0]))
                for name, points in self._points.items() if len(points) == 1}

    def everything(self) -> tuple[list[RegisteredTask], list[BrokenTask]]:
        """Every task, loaded, and every entry point that gives none, by name."""
        for name in self._points:
            self._load(name)
        return ([self._loaded[n] for n in sorted(self._loaded)],
                [self._broken[n] for n in sorted(self._broken)])

    def _load(self, name: str) -> None:
        if name in self._loaded or name in self._broken:
            return
        points = self._points[name]
        packages = tuple(_package(point) for point in points)
        target = ", ".join(point.value for point in points)
        if len(points) > 1:
            self._broken[name] = BrokenTask(name, packages, target,
                                            f"claimed by {len(points)} packages: "
                                            f"{' and '.join(packages)}; uninstall one")
        elif not TASK_NAME.fullmatch(name):
            self._broken[name] = BrokenTask(name, packages, target,
                                            "is not a task name ([a-z][a-z0-9_]{0,31})")
        else:
            failed = self._trial_load(points[0], packages[0])
            if failed is not None:
                self._broken[name] = BrokenTask(name, packages, target,
                                                f"{target} failed to load: {failed}")
                return
            try:
                task = as_task(points[0].load())
            except (Exception, SystemExit) as error:  # a plugin's own bug: reported, never fatal
                self._broken[name] = BrokenTask(name, packages, target,
                                                f"{target} failed to load: "
                                                f"{type(error).__name__}: {error}")
                return
            version = _release(points[0])[1]
            self._loaded[name] = RegisteredTask(name, task, packages[0], version, target)

    def _trial_load(self, point, package: str) -> Optional[str]:
        """Why loading `point` in a process of its own hung or killed it; None if it
        did not (an import that raises is left to the load here, which says the same).
        Its time counts from the trial's start, which `loading_ahead` may have made."""
        trial = self._trials.pop(point.name, None)
        if self._trial_seconds is None or package == OWN_PACKAGE:
            if trial is not None:
                trial.stop()
            return None
        trial = trial or _Trial.start(point)
        try:
            _, stderr = trial.process.communicate(
                timeout=max(0.0, trial.started + self._trial_seconds - time.monotonic()))
        except subprocess.TimeoutExpired:
            trial.stop()
            return (f"its import still ran after {self._trial_seconds:g} s (does it wait for "
                    "something?); task_load_seconds in config.yaml allows more")
        if trial.process.returncode < 0:
            return f"its import killed its process ({_signal_name(-trial.process.returncode)})"
        if trial.process.returncode and b"Traceback" not in stderr:
            return f"its import ended its process (exit code {trial.process.returncode})"
        return None


@functools.cache
def registry() -> Registry:
    """The tasks installed, their entry points found the first time it is asked for."""
    claims: dict[str, list] = {}
    for point in entry_points(group=GROUP):
        same = [p for p in claims.get(point.name, []) if _package(p) == _package(point)]
        if not same:  # a package seen twice on the path (an editable install) counts once
            claims.setdefault(point.name, []).append(point)
    return Registry(claims)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _package(point) -> str:
    return _release(point)[0]


def _release(point) -> tuple[str, str]:
    """The name and version of the package that registered `point`, read from its
    metadata's header alone: importlib.metadata parses the whole file with email, its long
    description too (for runner, this README), which took 0.1 MiB more of the daemon's peak."""
    return ("?", "?") if point.dist is None else _dist_release(point.dist)


@functools.lru_cache(maxsize=None)
def _dist_release(dist) -> tuple[str, str]:
    # once a package: a lookup asks for it several times (is_own, the load, its version),
    # and the entry points of one package share its Distribution
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields = dict(line.split(": ", 1) for line in text.partition("\n\n")[0].splitlines()
                  if ": " in line and not line[:1].isspace())
    if "Name" in fields and "Version" in fields:
        return fields["Name"], fields["Version"]
    return dist.name, dist.version  # a header unlike the usual: email's parse


def describe(found: RegisteredTask) -> dict:
    """What `runner tasks` shows of a task: name, kind, package, version, description,
    params (their JSON schema's properties)."""
    schema = found.task.params_model().model_json_schema()
    return {"name": found.name, "kind": found.task.kind, "package": found.package,
            "version": found.version, "description": found.task.description(),
            "params": schema.get("properties", {}), "required": schema.get("required", []),
            "target": found.target}


def catalogue(load_seconds: float) -> dict:
    """What `runner tasks` shows: every task installed, `describe`d, and every entry
    point that gives none (name, packages, target, error); a plugin whose import runs
    past `load_seconds` is listed broken."""
    registry().guard_loads(load_seconds)
    loaded, broken = registry().everything()
    return {"tasks": [describe(task) for task in loaded],
            "broken": [{"name": b.name, "packages": list(b.packages), "target": b.target,
                        "error": b.error} for b in broken]}


def default_task(name: Optional[str]) -> str:
    """The task a job runs: the one it names, else the built-in primes."""
    return name or DEFAULT_TASK
