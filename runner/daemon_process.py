"""The daemon's process: `runner start` reads its options, then becomes the daemon by
exec'ing a fresh interpreter that runs `main` here.

The daemon lives on for days; the command line's modules (typer, click and the CLI's
own), loaded to read the options, would stay in its memory all that time (1.7 MiB,
bench/memory.py). Exec keeps the process, so its pid, its standard streams, what a
signal to `runner start` does and its exit code are the same as if the command ran the
daemon itself. Its command line ends in `runner start --root ROOT` (the arguments of the
code it runs), so that `ps` and `pgrep -f "runner start"` find it as they would the command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

EXIT_BAD_SPOOL = 2  # the spool or its config.yaml is wrong: nothing was run
# what the daemon's interpreter runs: with no current folder on sys.path (the `runner`
# script has its own folder there, never the current one), so that a file there named
# like a module (random.py, yaml.py) is not imported in its place
_DAEMON_CODE = ("import sys; sys.path[:] = [p for p in sys.path if p]; "
                "from runner.daemon_process import main; main()")
_SHOWN_AS = ("runner", "start", "--root")  # what `ps` shows after the code, before the root


def exec_daemon(root: Path, drain: bool, verbose: bool) -> NoReturn:
    """Replace this process with the daemon serving the spool at `root` (the same
    interpreter, with the same flags: -X, -W, -O...). Never returns; the daemon's
    exit code is this process's."""
    argv = [sys.executable, *subprocess._args_from_interpreter_flags(), "-c", _DAEMON_CODE,
            *_SHOWN_AS, str(root)]
    argv += ["--drain"] * drain + ["--verbose"] * verbose
    for stream in (sys.stdout, sys.stderr):  # what Python buffered would be lost
        if stream is not None:  # None: started with the descriptor closed
            stream.flush()
    os.execv(sys.executable, argv)


def main() -> NoReturn:
    """Run the daemon on the spool that `exec_daemon` named, until it is stopped or, with
    --drain, until the queue is empty; exit with its code, or with EXIT_BAD_SPOOL, saying
    why on stderr, if the spool or its config.yaml is wrong."""
    root, *options = sys.argv[1 + len(_SHOWN_AS):]
    from .daemon import serve
    from .errors import RunnerError
    from .spool import Spool

    try:
        spool = Spool(Path(root))
        spool.ensure()
        code = serve(spool, "--verbose" in options, "--drain" in options)
    except RunnerError as error:
        print(f"runner: {error.for_cli()}", file=sys.stderr)
        sys.exit(EXIT_BAD_SPOOL)
    sys.exit(code)
