"""Real plugin packages for the tests: examples/collatz and a faulty package of the
tests' own (a task that raises on 13, a slow one, one with an init), pip-installed into a
folder that the test puts on PYTHONPATH for every process it starts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
EXAMPLE = REPOSITORY / "examples" / "collatz"



def pyproject(name: str, version: str, tasks: dict[str, str]) -> str:
    """The pyproject.toml of a one-file-a-module package `name` that registers `tasks`
    (task name -> "module:object") under `runner.tasks`."""
    points = "".join(f'{task} = "{target}"\n' for task, target in tasks.items())
    modules = sorted({target.split(":")[0] for target in tasks.values()})
    return ('[build-system]\nrequires = ["setuptools>=64"]\n'
            'build-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
            f'[project.entry-points."runner.tasks"]\n{points}'
            f"[tool.setuptools]\npy-modules = {json.dumps(modules)}\n")


FAULTY_TASKS = {"thirteen": "faulty_tasks:refuse_thirteen", "slow": "faulty_tasks:SLOW",
                "counted": "faulty_tasks:COUNTED"}
FAULTY = {
    "pyproject.toml": pyproject("runner-test-faulty", "0.3.0", FAULTY_TASKS),
    "faulty_tasks.py": """
        import os
        import time

        from runner import Task


        def refuse_thirteen(n: int) -> int:
            \"\"\"n, but not 13.\"\"\"
            if n == 13:
                raise ValueError("13 is unlucky")
            return n


        def _slow(n: int, *, seconds: float = 0.02) -> int:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:  # busy: a worker that computes, as a CPU task does
                pass
            return os.getpid()


        SLOW = Task(item=_slow, doc="The pid that computed n, slowly")

        _inits = []


        def _setup(*, tag: str = "x") -> None:
            _inits.append(tag)


        def _counted(n: int, *, tag: str = "x") -> list:
            return [os.getpid(), len(_inits), _inits[-1] if _inits else None]


        COUNTED = Task(item=_counted, init=_setup, doc="Which worker, and its inits so far")
        """,
}
def install(package: Path, target: Path) -> None:
    """pip-install `package` into `target`, a folder put on PYTHONPATH: a real install."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--no-build-isolation", "--target", str(target), str(package)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def write_package(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def install_plugins(target: Path, scratch: Path) -> Path:
    """examples/collatz and the faulty package, installed in `target`."""
    install(EXAMPLE, target)
    install(write_package(scratch / "faulty", FAULTY), target)
    return target
