"""The spool: the on-disk queue. Every job state is a place, every change one rename.

    <root>/config.yaml
    <root>/jobs/<name>.yaml                     queued: dropped by people or `runner submit`
    <root>/jobs/.state/claiming/<random>/       being claimed (still reported as queued)
    <root>/jobs/.state/running/<id>/            running (or waiting for a daemon to resume it)
    <root>/jobs/.state/{done,failed,cancelled}/<id>/   finished
    <root>/jobs/.state/inputs/                  numbers files written by `runner submit`
    <root>/jobs/.state/tmp/                     files being written, renamed into place whole
    <root>/jobs/.state/spares/<random>/         a daemon's empty files and folders made ahead (spares.py)
    <root>/jobs/.state/daemons/<host>-<pid>.json   the daemons serving the spool, each flocked by its own
    <root>/jobs/.state/events.jsonl, .1         the events log (events.py), newest last
    <root>/jobs/.state/daemon.log, .1, .2       the daemons' own log
    <root>/outbox/<id>.yaml, <id>.primes|.kept|.jsonl   results, and output beside them

Nothing else in the runner touches these paths but the modules that each own one of
them: queued.py lists jobs/ in run order, inputs.py keeps inputs/, daemons.py keeps
daemons/; listing.py only reads them all (status, inspect, the dashboard, metrics).

The daemon watches jobs/ alone (watcher.py), for files closed after writing or moved
in; a claim, one rename out of jobs/, wakes nobody. (Daemons of earlier versions, whose
watcher held every event for 0.5 s behind a move out of jobs/, claimed by a rename within
jobs/ to a hidden name, then a link into the claiming folder and an unlink; a daemon that
adopts such a claim after a crash finishes it their way.)

A job's folder, what it holds and the flock that says who owns it are jobdir.py's.
A job is claimed by renaming its file into a locked claiming folder, so two
daemons can never both run it; its result is committed by renaming
outbox/<id>.yaml into place, the one instant at which it is finished.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

from .errors import NotASpoolError, SpoolError
from .events import EVENTS_FILE, EventLog, Events
from .job import FINISHED_STATES, NUMBERED_MAX, JobState, numbered_ids
from .jobdir import (CANCEL_FILE, INPUT_FILE, JOB_FILE, SOURCE_FILE, JobDir, lock, shown_name,
                     try_lock)
from .queued import Queue
from .spares import Spares

log = logging.getLogger("runner.spool")

STATE_DIR = ".state"
CONFIG_FILE_NAME = "config.yaml"  # with jobs/, what makes a folder a spool
DAEMON_LOG_FILE = "daemon.log"
RESULT_SUFFIX = ".yaml"
# a job's output beside its result, by how its task reports it (results.output_kind):
# the primes task's primes, a filter's kept numbers, a map's values
OUTPUT_SUFFIXES = {"primes": ".primes", "filter": ".kept", "map": ".jsonl"}


def fsync_dir(path: Path) -> None:
    """Make a rename or creation in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The spool rooted at `root`: its places and the only code that moves jobs between them."""

    def __init__(self, root: Path):
        """Open the spool at `root`; NotASpoolError (nothing is made) if it is none."""
        self.root = Path(root).expanduser().resolve()
        self.jobs = self.root / "jobs"
        lacks = [what for what, there in (("config.yaml", (self.root / CONFIG_FILE_NAME).is_file()),
                                          ("jobs/ folder", self.jobs.is_dir())) if not there]
        if lacks:
            why = (f"it has no {' and no '.join(lacks)}" if self.root.is_dir() else
                   "it is a file" if self.root.exists() else "there is no such folder")
            raise NotASpoolError(self.root, why)
        self.outbox = self.root / "outbox"
        self.state = self.jobs / STATE_DIR
        self.tmp = self.state / "tmp"
        self.spares_folder = self.state / "spares"
        self._spares: Optional[Spares] = None  # the daemon's; a command makes files as it goes
        self.inputs = self.state / "inputs"
        self.claiming = self.state / "claiming"
        self.daemons = self.state / "daemons"
        self.daemon_log = self.state / DAEMON_LOG_FILE
        # where an id that has been used has left a trace: its result, its finished folder
        self._history_places = [(os.fspath(self.outbox), RESULT_SUFFIX),
                                *((os.fspath(self.place(state)), "") for state in FINISHED_STATES)]
        self.events = Events(EventLog(self.state / EVENTS_FILE))
        # name -> (file identity, its QueuedFile): each queued file is peeked once,
        # however often jobs/ is rescanned; only names still queued are kept
        self.queue = Queue(self.jobs)  # the queued files, in run order

    def place(self, state: JobState) -> Path:
        """The folder that holds the jobs in `state` (queued jobs are files in jobs/)."""
        return self.jobs if state is JobState.QUEUED else self.state / state.value

    @classmethod
    def create(cls, root: Path) -> "Spool":
        """Make a spool at `root` (config.yaml with every setting commented, jobs/, outbox/)."""
        from .config import CONFIG_TEMPLATE  # pydantic: only when needed

        root = Path(root).expanduser().resolve()
        try:
            (root / "jobs").mkdir(parents=True, exist_ok=True)
            config = root / CONFIG_FILE_NAME
            if not config.exists():
                config.write_text(CONFIG_TEMPLATE, encoding="utf-8")
        except OSError as exc:
            raise SpoolError(f"cannot make a spool at {root}: {exc.strerror or exc}") from exc
        spool = cls(root)
        spool.ensure()
        return spool

    def ensure(self) -> None:
        """Make the spool's folders if missing (one removed while a daemon runs comes
        back); SpoolError if the spool's root itself is gone."""
        if not self.root.is_dir():
            raise SpoolError(f"the spool's folder {self.root} is gone")
        for folder in (self.jobs, self.outbox, self.tmp, self.spares_folder, self.inputs,
                       self.claiming, self.daemons,
                       *(self.place(s) for s in (JobState.RUNNING, *FINISHED_STATES))):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SpoolError(f"cannot make the spool's folder {folder}: {exc.strerror or exc}"
                                 " (is something else in its place, or the disk read-only?)") from exc

    # -- writing files whole ---------------------------------------------------

    def keep_spares(self) -> None:
        """Keep a stock of empty files and folders, made ahead by `make_spare`, for this
        process's writes and claims (the daemon's: see spares.py), until `drop_spares`."""
        self._spares = Spares(self.spares_folder, self.tmp)

    def make_spare(self) -> bool:
        """Make one more spare (spares.py); False if none is wanted now."""
        return self._spares is not None and self._spares.make_one()

    def drop_spares(self) -> None:
        """Remove this process's stock of spares (none: nothing to do); from now on files
        and folders are made as they are needed."""
        if self._spares is not None:
            self._spares.close()
            self._spares = None

    def write_atomically(self, dest: Path, data: bytes, durable: bool = True) -> None:
        """Write `data` to `dest` so that a reader sees no file or the whole file; with
        `durable`, also so that it survives a power loss once this returns."""
        spare = self._spares and self._spares.take_file()
        temp = spare or self.tmp / f"{dest.name}.{uuid.uuid4().hex}"
        # a spare (empty) is written as it is: ext4 starts writing back a file truncated to
        # empty as soon as it is closed (its auto_da_alloc), which made each write into a
        # spare 30 us slower than into a new file, and a durable write after it wait for it
        with open(temp, "r+b" if spare else "xb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.rename(temp, dest)
        if durable:
            fsync_dir(dest.parent)

    def temp_path(self, name: str) -> Path:
        """A fresh path in the spool's tmp folder, on the spool's filesystem."""
        return self.tmp / f"{uuid.uuid4().hex}.{name}"

    # -- queueing --------------------------------------------------------------

    def enqueue(self, name: str, data: bytes,
                on_queued: Optional[Callable[[Path], None]] = None) -> Path:
        """Put a job file into jobs/ whole, under a name not yet taken there. `on_queued`
        gets its path once it is durably in jobs/ and before the daemon is told it is
        whole, so what it logs comes before anything a daemon logs of the job."""
        stem, suffix = os.path.splitext(name)
        # written beside jobs/, not in it: its close wakes no watcher, so a job is one
        # event (watchdog 7.1.1, for one, holds an event that follows another within 1 ms
        # for up to 1 ms more)
        temp = self.temp_path("enqueued")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        for n in range(1, NUMBERED_MAX + 1):
            dest = self.jobs / (name if n == 1 else f"{stem}-{n}{suffix}")
            try:
                os.link(temp, dest)  # unlike rename, fails when dest exists
            except FileExistsError:
                continue
            os.unlink(temp)
            fsync_dir(self.jobs)
            if on_queued is not None:
                on_queued(dest)
            # A link shows up as a bare "created" event, like a file just opened for
            # writing; a close-after-write event tells the daemon this one is whole. A
            # daemon may have claimed it already: then nothing is opened, nor created.
            try:
                os.close(os.open(dest, os.O_WRONLY | os.O_APPEND))
            except FileNotFoundError:
                pass
            return dest
        raise SpoolError("no free name for the job file in jobs/")

    # -- claiming and placing --------------------------------------------------

    def claim(self, path: Path) -> Optional[JobDir]:
        """Take the queued file `path` for this process; None if another took it first.
        Its rename into a locked claiming folder is the claim."""
        token = uuid.uuid4().hex
        # locked before it appears in claiming/, or a daemon adopting orphans could take it
        # for a dead one
        building = self._spares and self._spares.take_folder()
        if not building:
            building = self.tmp / token
            building.mkdir()
        lock_fd = lock(building)
        name = os.fsencode(path.name)  # any bytes a name has
        try:
            self.write_atomically(building / SOURCE_FILE, name, durable=False)
            folder = self.claiming / token
            os.rename(building, folder)
        except OSError:
            os.close(lock_fd)
            shutil.rmtree(building, ignore_errors=True)
            raise
        jobdir = JobDir(folder, lock_fd, known_source=shown_name(name))
        try:
            os.rename(path, folder / JOB_FILE)
        except FileNotFoundError:
            jobdir.release()
            shutil.rmtree(folder, ignore_errors=True)
            return None
        log.debug("claimed jobs/%s", path.name)
        return jobdir

    def _claimed_name(self, token: str) -> Path:
        return self.jobs / f".claimed-{token}"

    def is_claiming(self, jobdir: JobDir) -> bool:
        """Whether the job is claimed but not yet placed in running/."""
        return jobdir.path.parent == self.claiming

    def place_running(self, jobdir: JobDir, wanted_id: str) -> str:
        """Move a claimed job to running/ under `wanted_id`, or `wanted_id-N` if that id is
        taken (running, finished, or with a result in outbox/). Returns the id given."""
        running = self.place(JobState.RUNNING)
        for job_id in numbered_ids(wanted_id):
            if self._id_has_history(job_id):
                continue
            try:
                os.rename(jobdir.path, running / job_id)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue
                raise
            if self._id_has_history(job_id):
                # a daemon finished a job of this id between our check and our rename
                os.rename(running / job_id, jobdir.path)
                continue
            jobdir.path = running / job_id  # not fsynced: lost, the job is claimed again
            log.debug("job %s: in running/", job_id)
            return job_id
        raise SpoolError(f"no free id like {wanted_id!r}")

    def _id_has_history(self, job_id: str) -> bool:
        # strings, not Paths: their joins cost more than the four stats (twice a job)
        return any(os.path.exists(f"{folder}/{job_id}{suffix}")
                   for folder, suffix in self._history_places)

    # -- finishing -------------------------------------------------------------

    def commit_result(self, jobdir: JobDir, state: JobState, result: bytes,
                      output: Union[Path, bytes, None], output_name: Optional[str] = None) -> None:
        """Finish a running job: its output (a file of the job's, moved, or text, written;
        if any) goes to outbox/`output_name`, then its result, the result's rename being
        the commit; then the job's folder moves to its final place."""
        job_id = jobdir.id
        if isinstance(output, bytes):
            self.write_atomically(self.outbox / output_name, output)
        elif output is not None:
            with open(output, "rb+") as handle:
                os.fsync(handle.fileno())
            os.rename(output, self.outbox / output_name)
        self.write_atomically(self.outbox / f"{job_id}{RESULT_SUFFIX}", result)
        self._archive(jobdir, state)

    def _archive(self, jobdir: JobDir, state: JobState) -> None:
        from .checkpoint import remove_spill_files  # the daemon's: the CLI need not load it

        if state is JobState.DONE:  # a failed or cancelled job keeps it for `runner retry`
            jobdir.file(INPUT_FILE).unlink(missing_ok=True)
        remove_spill_files(jobdir.path)  # its output is committed: nobody waits for them
        dest = self.place(state) / jobdir.id
        if dest.exists():  # left by a crash between rename and rmtree of an older try
            shutil.rmtree(dest)
        os.rename(jobdir.path, dest)  # not fsynced: lost, recovery archives it again
        jobdir.path = dest
        jobdir.release()
        log.debug("job %s: in %s/", jobdir.id, state.value)

    def result_path(self, job_id: str) -> Path:
        return self.outbox / f"{job_id}{RESULT_SUFFIX}"

    # -- pruning ---------------------------------------------------------------

    def finished_before(self, cutoff: float) -> Iterator[tuple[str, JobState, float]]:
        """(id, state, when it finished) of each finished job that finished before the Unix
        time `cutoff`; when it finished is its result file's modification time. One stat
        a job, no file read."""
        for state in FINISHED_STATES:
            for folder in entries(self.place(state)):
                try:
                    finished = os.stat(self.result_path(folder.name)).st_mtime
                except FileNotFoundError:  # its result was removed by hand
                    try:
                        finished = os.lstat(folder).st_mtime
                    except FileNotFoundError:
                        continue
                if finished < cutoff:
                    yield folder.name, state, finished

    def remove_finished(self, job_id: str, state: JobState) -> bool:
        """Remove a finished job: its result, its output file, then its folder (renamed
        out of `state`'s place, then deleted). A crash part-way leaves the folder, which
        `finished_before` dates by its own time, so the next prune finishes the work.
        False if the job was not there (another process removed it first)."""
        folder = self.place(state) / job_id
        if not folder.is_dir():
            return False
        self.result_path(job_id).unlink(missing_ok=True)
        for suffix in OUTPUT_SUFFIXES.values():
            (self.outbox / f"{job_id}{suffix}").unlink(missing_ok=True)
        doomed = self.temp_path(f"pruned-{job_id}")
        try:
            os.rename(folder, doomed)
        except FileNotFoundError:
            return False
        shutil.rmtree(doomed, ignore_errors=True)
        log.debug("job %s: pruned from %s/", job_id, state.value)
        return True

    # -- recovery --------------------------------------------------------------

    def adopt_orphans(self) -> Iterator[JobDir]:
        """Jobs whose owner died, now locked by this process: claims it left half-way
        (`is_claiming` says so; the caller carries on with them) and running jobs.
        Jobs whose result was committed are only archived."""
        for folder in entries(self.claiming):
            lock_fd = try_lock(folder)
            if lock_fd is None:
                continue
            jobdir = JobDir(folder, lock_fd)
            hidden = self._claimed_name(folder.name)
            if os.path.lexists(hidden):  # a claim that a daemon of an earlier version began
                _move_out_of_jobs(hidden, jobdir.file(JOB_FILE))
            if jobdir.file(JOB_FILE).exists():
                yield jobdir
            else:  # died before its rename: the file is still queued in jobs/
                jobdir.release()
                shutil.rmtree(folder, ignore_errors=True)
        for folder in entries(self.place(JobState.RUNNING)):
            lock_fd = try_lock(folder)
            if lock_fd is None:
                continue
            jobdir = JobDir(folder, lock_fd)
            committed = self.read_result_state(jobdir.id)
            if committed is not None:
                log.info("job %s: its daemon died just after committing its result; "
                         "moving it to %s/", jobdir.id, committed.value)
                self._archive(jobdir, committed)
                continue
            yield jobdir

    def read_result_state(self, job_id: str) -> Optional[JobState]:
        """The state in outbox/<id>.yaml, if that result exists (PyYAML is loaded only if
        it does: `runner status` asks of each running job, and otherwise reads no YAML)."""
        try:
            handle = open(self.result_path(job_id), "rb")
        except OSError:
            return None
        import yaml

        from .results import YAML_LOADER

        with handle:
            try:
                return JobState(yaml.load(handle, Loader=YAML_LOADER)["state"])
            except (OSError, KeyError, TypeError, ValueError):
                return None

    # -- cancel ----------------------------------------------------------------

    def request_cancel(self, job_id: str) -> None:
        """Ask the daemon running `job_id` to cancel it."""
        jobdir = JobDir(self.place(JobState.RUNNING) / job_id)
        self.write_atomically(jobdir.file(CANCEL_FILE), b"")


def _move_out_of_jobs(hidden: Path, dest: Path) -> None:
    """Finish a claim that a daemon of an earlier version began and left with the entry
    at its hidden name in jobs/ (it claimed by a rename to that name, then a link into the
    claiming folder and an unlink; see the module's docstring), as it would have. A folder
    cannot be linked: it is renamed (it will fail as "not a regular file")."""
    try:
        os.link(hidden, dest)
    except FileExistsError:
        pass  # linked before a crash; the unlink was all that was left
    except (PermissionError, IsADirectoryError):
        os.rename(hidden, dest)
        return
    os.unlink(hidden)


def entries(folder: Path) -> list[Path]:
    """What `folder` holds, sorted by name; nothing if it is gone."""
    try:
        return [folder / name for name in sorted(os.listdir(folder))]
    except FileNotFoundError:
        return []

