"""`runner start` becomes the daemon by exec (runner/daemon_process.py): the same
process, now a fresh interpreter without the command line's modules; a file in the
current folder named like a module is not imported in its place; a wrong config.yaml
still exits 2 in the command line's words; a closed stdout is no matter."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import drop_job, read_result, runner_command, wait_for_result, wait_ready

pytestmark = pytest.mark.e2e  # it starts processes (see conftest.py)


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


@pytest.mark.timeout(60)
def test_runner_start_execs_the_daemon_in_its_own_process(spool, start_daemon, tmp_path,
                                                          monkeypatch):
    # a module the daemon imports but the command line does not: were the current folder
    # on the daemon's sys.path (as `python -m runner` puts it on the command's), this one
    # would be imported in place of the real inotify_simple (the watcher's, on Linux)
    (tmp_path / "inotify_simple.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w')\n")
    monkeypatch.chdir(tmp_path)
    daemon = start_daemon()
    wait_ready(daemon)
    args = cmdline(daemon.pid)
    assert "-c" in args and "runner.daemon_process" in args[args.index("-c") + 1]
    # shown as the command it came from: `pgrep -f "runner start"` finds it
    assert args[args.index("-c") + 2:] == ["runner", "start", "--root", str(spool.root)]
    assert f"runner start --root {spool.root}" in " ".join(args)  # as pgrep -f matches
    drop_job(spool, "a.yaml", {"id": "a", "numbers": [17977, 10619863, 6]})
    assert wait_for_result(spool, "a")["primes_found"] == 2
    assert not (tmp_path / "imported").exists()
    assert daemon.stop() == 0


def test_a_wrong_config_exits_2_saying_where(spool):
    (spool.root / "config.yaml").write_text("max_proceses: 2\n")
    proc = subprocess.run(runner_command("start", "--drain", "--root", str(spool.root)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"runner: {spool.root / 'config.yaml'}, line 1, column 1")
    assert "did you mean 'max_processes'?" in proc.stderr


def test_a_daemon_started_with_stdout_closed_runs(spool):
    drop_job(spool, "a.yaml", {"id": "a", "numbers": [17977, 6]})
    proc = subprocess.run(runner_command("start", "--drain", "--root", str(spool.root)),
                          stderr=subprocess.PIPE, text=True, timeout=60,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == 0, proc.stderr
    assert read_result(spool, "a")["primes_found"] == 1
