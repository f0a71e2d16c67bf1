"""The door: jobs queued by `runner submit`, `runner retry` and the API, each only once
it passes the daemon's own check (jobfile.parse_job), so that a mistake is refused where
it is made, in the words of what was given (its file and line, or the option), and
nothing is queued.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
import os
import stat
from pathlib import Path
from typing import (TYPE_CHECKING, Any, BinaryIO, Callable, ContextManager, Iterable, Iterator,
                    Optional)

from . import events, inputs, listing
from .errors import (BadJobIdError, JobError, JobIdTakenError, JobStateError, RunnerError,
                     SpoolError)
from .job import (JOB_ID_PATTERN, JOB_SUFFIXES, JobState, default_job_id, numbered_ids,
                  peek_job_id)
from .jobdir import JOB_FILE, SPEC_FILE, JobDir
from .spool import CONFIG_FILE_NAME, Spool

if TYPE_CHECKING:
    from .spec import Job  # dataclasses: the daemon's, not the door's

COPY_BLOCK_BYTES = 1 << 20  # numbers copied into the spool this much at a time
# the fields of a job the door makes of a numbers file: its id, the spool's copy of the
# file, and a task (by name)
DOOR_FIELDS = frozenset({"id", "numbers_file", "task"})


def submit(spool: Spool, numbers: Optional[Iterable[int]] = None, *,
           range: Optional[tuple[int, int]] = None, job_id: Optional[str] = None,
           pool: Optional[dict] = None, **fields: Any) -> str:
    """Queue a job testing `numbers` (any iterable of ints, written to the spool as it
    is read, so a generator of millions stays small) or the half-open `range`; `pool`
    and `fields` (timeout, priority, retries) as in a job file. Returns the job's id.
    A job the daemon would refuse is refused here, with the same JobError, and nothing
    is queued."""
    if (numbers is None) == (range is None):
        raise SpoolError("give the numbers to test, or a range=(start, stop), not both")
    if range is not None:
        start, stop = _given_range(range)
        spec: dict[str, Any] = {"id": _free_id(spool, job_id, "range"),
                                "range": {"start": start, "stop": stop}}
        return _enqueue(spool, spec, pool, fields, "api", checked_as="api.submit(range=...)")
    from .resolve import check_number

    max_bits = _config(spool).limits.number_bits

    def lines() -> Iterator[bytes]:  # each number checked as it is read, named as given
        for index, given in enumerate(numbers):
            where = f"numbers[{index}]"
            number = _given_integer(given, where)
            try:
                check_number(number, max_bits, where)
            except JobError as error:
                error.option = where
                raise error.locate() from None
            yield b"%d\n" % number

    try:
        return _submit_input(spool, lambda out: out.writelines(lines()), "api.numbers", job_id,
                             pool, fields)
    except JobError as error:
        if error.file == "api.numbers" and error.option is None:  # their count
            error.file, error.option = None, "numbers"
            error.locate()
        raise


def _given_range(given: Any) -> tuple[int, int]:
    """`range=(start, stop)` as two ints, else a JobError in the API's words."""
    try:
        start, stop = given
    except (TypeError, ValueError):
        raise JobError(f"{given!r} is not a pair (start, stop)", option="range",
                       fix="pass range=(start, stop), e.g. range=(0, 10**6)") from None
    return _given_integer(start, "range[0]"), _given_integer(stop, "range[1]")


def _given_integer(value: Any, where: str) -> int:
    """`value` as the int it is (an int, a numpy integer), else a JobError naming `where`
    with a fix that works (a whole float like 1e6: pass 1000000)."""
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    from .schema_errors import meant_whole_number

    whole = meant_whole_number(value)
    raise JobError(f"{value!r} is a {type(value).__name__}, not an integer", option=where,
                   fix=f"pass {whole}, an int" if whole is not None else "pass an int")


def submit_file(spool: Spool, file: str, job_id: Optional[str] = None,
                pool: Optional[dict] = None, fields: Optional[dict] = None, stdin=None) -> str:
    """Queue the job that `file` (as the person typed it) gives: `-` the numbers on the
    binary stream `stdin`, a .yaml/.yml file a job file, anything else a numbers file.
    Returns the job's id; nothing is queued if it is refused (a JobError says where)."""
    if file == "-":
        return submit_numbers(spool, stdin, "stdin", job_id, pool, fields)
    if Path(file).suffix in JOB_SUFFIXES:
        return submit_job_file(spool, Path(file), job_id, pool, fields)
    try:
        source = open(file, "rb")
    except OSError as error:
        raise JobError(f"cannot read it: {error.strerror or error}", file=file) from None
    with source:
        return submit_numbers(spool, source, file, job_id, pool, fields)


def submit_numbers(spool: Spool, source, name: str, job_id: Optional[str] = None,
                   pool: Optional[dict] = None, fields: Optional[dict] = None) -> str:
    """Queue a job testing the numbers in the binary stream `source` (one a line),
    copied into the spool in blocks. `pool` and `fields` (timeout, priority, retries)
    as in a job file. Returns the job's id. Every line is read as the workers will read
    it: a JobError names `name` and the first bad line, and nothing is queued."""
    return _submit_input(spool, functools.partial(_copy_rest, source), name, job_id, pool,
                         fields)


def _copy_rest(source: BinaryIO, out: BinaryIO) -> None:
    """Write what is left of the binary stream `source` to the file `out`: copied by the
    kernel (os.sendfile) when `source` is a regular file, which takes a third of the time
    of a copy through Python (13 MB: 15 ms against 50 here, fsync included), else read
    COPY_BLOCK_BYTES at a time."""
    try:
        regular = stat.S_ISREG(os.fstat(source.fileno()).st_mode)
    except (OSError, ValueError):  # no descriptor (io.BytesIO: io.UnsupportedOperation)
        regular = False
    if not regular:
        out.writelines(iter(lambda: source.read(COPY_BLOCK_BYTES), b""))
        return
    out.flush()
    offset = source.tell()  # where its reader stands, buffered bytes included
    while sent := os.sendfile(out.fileno(), source.fileno(), offset, COPY_BLOCK_BYTES):
        offset += sent
    source.seek(offset)


def _submit_input(spool: Spool, write: Callable[[BinaryIO], None], name: str,
                  job_id: Optional[str], pool: Optional[dict], fields: Optional[dict]) -> str:
    from .config_file import NUMBER_BITS_DEFAULT, read_config_file

    task = (fields or {}).get("task")
    with _loading_ahead(task):
        job_id = _free_id(spool, job_id, default_job_id(Path(name)))
        spool.ensure()
        defaults = _within_default_limits(pool, fields) \
            and not read_config_file(spool.root).binds_jobs
        temp = spool.temp_path("numbers")
        try:
            with open(temp, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            _check_numbers(temp, name, NUMBER_BITS_DEFAULT if defaults else
                           _config(spool).limits.number_bits)
            sure = defaults and _within_default_count(os.path.getsize(temp))
            stored = inputs.store(spool, temp, Path(name).name)
        finally:
            temp.unlink(missing_ok=True)
        spec: dict[str, Any] = {"id": job_id,
                                "numbers_file": stored.relative_to(spool.root).as_posix()}
        try:
            # a job of the runner's own making, with nothing laid over it but settings
            # within the default limits and the name of a task, under a config.yaml that
            # sets nothing a job's check reads (config_file.DAEMON_ONLY_SETTINGS at most),
            # passes the daemon's check once its numbers and its task have (its id is free
            # and valid, its file inside the spool, its settings within the limits): that
            # check, which loads pydantic and the config's models (about 80 ms), is left to
            # the daemon
            sure = sure and _task_needs_no_check(task)
            return _enqueue(spool, spec, pool, fields, name, checked_as=None if sure else name)
        except RunnerError as error:
            stored.unlink(missing_ok=True)
            if isinstance(error, JobError) and error.field == "numbers_file":
                error.field = None  # a field of the spool's job, not of what they gave (`name`)
                error.locate()
            raise


def _loading_ahead(task: Optional[str]) -> ContextManager[None]:
    """While in it, a plugin task's trial load runs beside the copy and check of the
    numbers (registry.loading_ahead): on a machine with a core to spare, the 0.1 s of
    a fresh Python importing the plugin costs the submit nothing."""
    if _is_runner_s_own(task):
        return contextlib.nullcontext()
    from .registry import registry

    return registry().loading_ahead(task)


def _within_default_limits(pool: Optional[dict], fields: Optional[dict]) -> bool:
    """Whether the pool settings and fields laid over a job of the runner's own making
    (options, or the API's arguments) pass the daemon's check of them under the default
    limits (config_file's): each one of those below, of the type a job file must give
    (a bool is no int; None is left to the check) and in its range. The task is judged
    by _task_needs_no_check; anything else (params, on_error) is left to the check,
    which words any refusal."""
    from .config_file import (CHUNKSIZE_MAX_DEFAULT, RETRIES_MAX_DEFAULT, TIMEOUT_MAX_DEFAULT,
                              cpu_count)
    from .job import PRIORITY_MAX, START_METHODS

    def whole(low: int, high: float) -> Callable[[Any], bool]:
        return lambda value: type(value) is int and low <= value <= high

    passes: dict[str, Callable[[Any], bool]] = {
        "pool.processes": whole(1, cpu_count()),
        "pool.chunksize": whole(1, CHUNKSIZE_MAX_DEFAULT),
        "pool.maxtasksperchild": whole(1, float("inf")),
        "pool.start_method": lambda value: type(value) is str and value in START_METHODS,
        "pool.ordered": lambda value: type(value) is bool,
        "priority": whole(-PRIORITY_MAX, PRIORITY_MAX),
        "retries": whole(0, RETRIES_MAX_DEFAULT),
        "timeout": lambda value: type(value) in (int, float) and 0 < value <= TIMEOUT_MAX_DEFAULT,
        "task": lambda value: True,
    }
    given = {f"pool.{key}": value for key, value in (pool or {}).items()}
    given.update((key, value) for key, value in (fields or {}).items() if value is not None)
    return all(key in passes and passes[key](value) for key, value in given.items())


def _task_needs_no_check(task: Optional[str]) -> bool:
    """Whether a job naming `task` (None: the default) and no params, under a config.yaml
    that sets nothing a job's check reads, passes the daemon's check of its task: one of
    runner's own (which take no params they must be given; `_is_runner_s_own`), or a
    plugin's that loads here, guarded as the daemon loads it, needs no params
    (Task.needs_no_params) and has no cost function (Task.worst_seconds, which the check
    would call). Any other, a broken or unknown one too, is left to the full check, which
    words the refusal."""
    if _is_runner_s_own(task):
        return True
    from .config_file import TASK_LOAD_SECONDS
    from .registry import UnknownTaskError, registry

    tasks = registry()
    tasks.guard_loads(TASK_LOAD_SECONDS)
    try:
        found = tasks.lookup(task).task
    except UnknownTaskError:
        return False
    return found.needs_no_params() and found.worst_seconds is None


def _is_runner_s_own(task: Optional[str]) -> bool:
    """Whether `task` (None: the default) is one of runner's own, known by its name, as
    the default is, without reading the entry points (20 to 35 ms): a package that claims
    the name too is the operator's to mend, and `runner tasks` and the daemon's refusal
    of the job name both."""
    from .tasks import BUILTIN_TASKS

    return task is None or task in BUILTIN_TASKS


def _within_default_count(size: int) -> bool:
    """Whether a numbers file of `size` bytes is sure to hold no more numbers than the
    default limits.numbers: each takes a digit and a newline at least."""
    from .config_file import NUMBERS_DEFAULT

    return (size + 1) // 2 <= NUMBERS_DEFAULT


def _check_numbers(path: Path, shown: str, max_bits: int) -> None:
    """Every line of the numbers file at `path` read as the workers will, each number
    within `max_bits`; a JobError names the first bad one as a line of `shown`."""
    from .numbers import BadNumberLine
    from .plan import check_numbers_file

    try:
        check_numbers_file(path, max_bits)
    except BadNumberLine as bad:
        from .schema_errors import meant_whole_number

        if not bad.text.isprintable():
            raise JobError("holds bytes that are not text: is it a numbers file?", file=shown,
                           line=bad.line, fix="give a text file of integers, one a line"
                           ) from None
        whole = meant_whole_number(bad.text)
        raise JobError(f"{bad.text!r} {bad.what}", file=shown, line=bad.line,
                       fix=f"write {whole}" if whole is not None and whole >= 0 else
                       "write one integer from 0 up a line, in plain decimal digits (blank "
                       "lines and # comments are allowed)") from None


def submit_job_file(spool: Spool, path: Path, job_id: Optional[str] = None,
                    pool: Optional[dict] = None, fields: Optional[dict] = None) -> str:
    """Queue a copy of the YAML job file at `path`, with the given fields overridden,
    once it passes the daemon's own check (jobfile.parse_job): else a JobError names
    `path` as given and the line, or the overridden field, and nothing is queued. A
    numbers_file it names has its lines checked too, as the workers will read them."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JobError(f"cannot read it: {exc.strerror or exc}", file=str(path),
                       fix="check the file's name and that you may read it") from None
    job = _parse(spool, raw, path.name, str(path))
    if job.numbers_file is not None:
        _check_numbers(spool.root / job.numbers_file, job.numbers_file,
                       _config(spool).limits.number_bits)
    wanted = job_id or peek_job_id(path)
    free = _free_id(spool, job_id, wanted)
    if free == wanted and not pool and not fields and (job_id is None or peek_job_id(path) == job_id):
        return _queue(spool, free, raw, path.name)  # byte for byte: errors are reported by line
    from .results import load_yaml  # PyYAML: only where YAML is read

    spec = load_yaml(raw)
    spec["id"] = free
    return _enqueue(spool, spec, pool, fields, path.name, checked_as=str(path))


def _enqueue(spool: Spool, spec: dict, pool: Optional[dict], fields: Optional[dict],
             source: str, checked_as: Optional[str] = None, **details: Any) -> str:
    """Queue `spec` with `pool` and `fields` laid over it; with `checked_as` (how the
    person named what they submitted), only once it passes the daemon's check: a
    JobError about a value laid over says which (`option`: `pool.processes=64`)."""
    if pool:
        spec["pool"] = {**(spec.get("pool") or {}), **pool}
    overridden = {f"pool.{key}": value for key, value in (pool or {}).items()}
    overridden.update((key, value) for key, value in (fields or {}).items() if value is not None)
    spec.update({key: value for key, value in (fields or {}).items() if value is not None})
    # id and priority first: the daemon orders the queue by peeking at the file's head
    spec = {key: spec[key] for key in ("id", "priority") if key in spec} | spec
    data = _job_file_text(spec)
    try:
        if checked_as is not None:
            _parse(spool, data, f"{spec['id']}.yaml", checked_as)
        _check_served(spool, spec.get("task"), checked_as)
    except JobError as error:
        error.line = error.column = None  # lines of the spool's copy, not of theirs
        given = error.field if error.field in overridden else "params" if (
            (error.field or "").startswith("params.") and "params" in overridden) else None
        if given is not None:
            error.option = f"{given}={overridden[given]!r}"
        raise error.locate()
    return _queue(spool, spec["id"], data, source, **details)


def _check_served(spool: Spool, task: object, shown: Optional[str]) -> None:
    """JobError (naming `shown`, what they submitted) if a daemon serving the spool did
    not find the plugin task `task` installed as it started, or found another release of
    it than this process has: it would fail the job. A daemon that says nothing of its
    tasks (an older runner) is not asked."""
    if not isinstance(task, str) or _is_runner_s_own(task):
        return
    from . import daemons
    from .registry import registry

    ours = registry().releases().get(task)
    if ours is None:  # not installed here, or claimed twice: the daemon's check says so
        return
    for record in daemons.serving(spool):
        theirs = record.get("tasks")
        if not isinstance(theirs, dict) or theirs.get(task) == ours:
            continue
        found = (f"has task {task!r} from {theirs[task]}, not from {ours} as installed here"
                 if task in theirs else f"did not find {ours}, which registers task "
                 f"{task!r}, installed when it started")
        raise JobError(f"the daemon serving this spool (pid {record.get('pid')} on "
                       f"{record.get('host')}, since {record.get('since')}) {found}, and a "
                       "daemon finds the installed tasks as it starts", file=shown,
                       field="task", fix="install the same release where that daemon runs, "
                       "restart it (stop it, then `runner start`), and submit the job again")


def _job_file_text(spec: dict) -> bytes:
    """`spec` as a job file's YAML. One that holds nothing but fields the door fills
    itself (DOOR_FIELDS), each plain text (printable ASCII but `"` and `\\`), is written
    double-quoted, which YAML reads back as it is, without loading PyYAML (6 ms of a
    `runner submit`); anything else is written by PyYAML."""
    if spec.keys() <= DOOR_FIELDS and all(
            isinstance(value, str) and value.isascii() and value.isprintable()
            and '"' not in value and "\\" not in value for value in spec.values()):
        return "".join(f'{key}: "{value}"\n' for key, value in spec.items()).encode()
    import yaml  # here: a command that writes no job file need not load PyYAML

    return yaml.safe_dump(spec, sort_keys=False).encode()


def _parse(spool: Spool, raw: bytes, name: str, shown: str) -> Job:
    """Check a job file's bytes exactly as the daemon will when it takes the job; the
    job it makes."""
    from .jobfile import parse_job
    from .registry import registry

    config = _config(spool)
    registry().guard_loads(config.task_load_seconds)  # a plugin that hangs: refused, not awaited
    return parse_job(raw, spool.root, config, name, shown)


def _config(spool: Spool):
    """The spool's config.yaml as it is now, read and checked once however often one
    submit asks (its numbers, its file, its overrides), and again once the file changes."""
    try:
        info = os.stat(spool.root / CONFIG_FILE_NAME)
        version = (info.st_ino, info.st_mtime_ns, info.st_size)
    except OSError:
        version = None
    return _config_as_of(spool.root, version)


@functools.lru_cache(maxsize=8)
def _config_as_of(root: Path, version: Optional[tuple]):
    from .config import load_config  # pydantic: only when a job is checked

    return load_config(root)


def _queue(spool: Spool, job_id: str, data: bytes, source: str, **details: Any) -> str:
    spool.enqueue(f"{job_id}.yaml", data, lambda queued: spool.events.emit(
        events.SUBMITTED, job_id, source=source, file=f"jobs/{queued.name}", **details))
    return job_id


def _free_id(spool: Spool, asked: Optional[str], default: str) -> str:
    """`asked` if free (an error if taken: scripts rely on ids), else `default` or
    `default-N`, the first that no job of the spool has."""
    if asked is not None:
        if not isinstance(asked, str) or not JOB_ID_PATTERN.fullmatch(asked):
            raise BadJobIdError(asked)
        if listing.find(spool, asked) is not None or spool.result_path(asked).exists():
            raise JobIdTakenError(asked)
        return asked
    if listing.find(spool, default) is None and not spool.result_path(default).exists():
        return default
    # every job's id read once: asking find() for default-2, -3, ... read every queued
    # file's name each time (a submit into 1,000 queued jobs of one name took 12 s)
    taken = {info.id for info in listing.list_jobs(spool)}
    for candidate in itertools.islice(numbered_ids(default), 1, None):
        if candidate not in taken and not spool.result_path(candidate).exists():
            return candidate
    raise SpoolError(f"no free id like {default!r}")


def retry(spool: Spool, job_id: str) -> str:
    """Queue a fresh job from a failed or cancelled job's saved job file, with the first
    free id like `job_id` (`job_id-2`, ...); the old job and its result stay as they are.
    Returns the new job's id."""
    info = listing.get(spool, job_id)
    if info.state not in (JobState.FAILED, JobState.CANCELLED):
        raise JobStateError(f"job {job_id!r} is {info.state.value}; only a failed or cancelled "
                         "job can be retried (a done one: submit its job file again)")
    jobdir = JobDir(info.path)
    raw = jobdir.file(JOB_FILE).read_bytes()
    new_id = _free_id(spool, None, job_id)
    from .results import NotYAML, load_yaml

    try:
        spec = load_yaml(raw)
    except NotYAML:
        spec = None
    if not isinstance(spec, dict):  # as dropped, byte for byte: it fails the same way
        return _queue(spool, new_id, raw, jobdir.source_name(), retry_of=job_id)
    saved = jobdir.read_json(SPEC_FILE) or {}
    submitted_as = saved.get("submitted_as") or inputs.keep(spool, jobdir, spec.get("numbers_file"))
    if submitted_as:  # its numbers file was `runner submit`'s copy
        stored = inputs.store_again(spool, jobdir, submitted_as)
        if stored is None:
            raise SpoolError(f"job {job_id!r} no longer has its numbers file; submit the "
                             "numbers again")
        spec["numbers_file"] = stored
    spec["id"] = new_id
    return _enqueue(spool, spec, None, None, jobdir.source_name(), retry_of=job_id)
