"""Numbers files that `runner submit` stores in the spool, from inputs/ into the job
that uses them and back.

`runner submit numbers.txt` stores the file as jobs/.state/inputs/<random>-numbers.txt
and queues a job naming it. The job, once running, takes its own hard link
(`input.numbers` in its folder) and the name in inputs/ is dropped, so the numbers
live exactly as long as a job needs them; `runner retry` links a finished job's copy
back into inputs/ for the new job to adopt the same way.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Optional

from .jobdir import INPUT_FILE, JobDir
from .spool import Spool, fsync_dir


def _stored_name(name: str) -> str:
    """A fresh name in inputs/ for a numbers file submitted as `name` (kept for messages)."""
    return f"{uuid.uuid4().hex[:12]}-{name[-200:]}"


def store(spool: Spool, path: Path, name: str) -> Path:
    """Move the numbers file at `path` (written and fsynced in the spool's tmp/) into
    inputs/ for a file submitted as `name`, durably: the job file naming it, queued next,
    must not survive a power cut that loses it. Its new path."""
    stored = spool.inputs / _stored_name(name)
    os.rename(path, stored)
    fsync_dir(spool.inputs)
    return stored


def adopt(spool: Spool, jobdir: JobDir, numbers_file: str) -> tuple[str, Optional[str]]:
    """Give a running job its own link to a numbers file that `runner submit` stored in
    inputs/ (`forget` it once the job's spec names the link); other files stay where
    the job named them. Returns the path the job should use, and the name the file was
    submitted as (None if not submitted)."""
    submitted_as = _link(spool, jobdir, numbers_file)
    if submitted_as is None:
        return numbers_file, None
    return jobdir.file(INPUT_FILE).relative_to(spool.root).as_posix(), submitted_as


def keep(spool: Spool, jobdir: JobDir, numbers_file: object) -> Optional[str]:
    """Make sure a finished job holds its own copy of the numbers file that `runner
    submit` stored for it as `numbers_file` (a job that ended before it ran, cancelled
    while queued or refused at validation, has none yet), and drop inputs/' name for it.
    Returns the name it was submitted as; None if `numbers_file` is no such file or the
    job has no copy of it."""
    if not isinstance(numbers_file, str):
        return None
    try:
        submitted_as = _link(spool, jobdir, numbers_file)
    except FileNotFoundError:  # inputs/ no longer has it: the job's own copy, if any
        return Path(numbers_file).name.split("-", 1)[-1] \
            if jobdir.file(INPUT_FILE).exists() else None
    if submitted_as is not None:
        forget(spool, numbers_file)
    return submitted_as


def forget(spool: Spool, numbers_file: str) -> None:
    """Drop inputs/' name for a numbers file a job has adopted."""
    source = spool.root / numbers_file
    if source.parent == spool.inputs:
        source.unlink(missing_ok=True)


def store_again(spool: Spool, jobdir: JobDir, name: str) -> Optional[str]:
    """Link a finished job's own copy of its submitted numbers file back into inputs/
    (as `name`), for a new job to adopt; returns its path relative to the root, or None
    if the job has no copy."""
    stored = spool.inputs / _stored_name(name)
    try:
        os.link(jobdir.file(INPUT_FILE), stored)
    except FileNotFoundError:
        return None
    fsync_dir(spool.inputs)  # as `store` does: the new job's file names it
    return stored.relative_to(spool.root).as_posix()


def _link(spool: Spool, jobdir: JobDir, numbers_file: str) -> Optional[str]:
    """Link inputs/' `numbers_file` into the job's folder; the name it was submitted as,
    or None (nothing linked) if `numbers_file` is not in inputs/."""
    source = spool.root / numbers_file
    if source.parent != spool.inputs:
        return None
    try:
        os.link(source, jobdir.file(INPUT_FILE))
    except FileExistsError:
        pass  # linked before (a crash, or an earlier retry)
    return source.name.split("-", 1)[-1]
