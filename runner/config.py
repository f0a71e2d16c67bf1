"""The daemon's settings and limits, read from `config.yaml` at the spool's root.

Every setting is optional: a spool with an empty (or no) config.yaml runs with
the defaults below. `CONFIG_TEMPLATE` is what `runner init` writes: each setting
commented, with its default, so a person can see every knob in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, get_args

import yaml
from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, ValidationError,
                      model_validator)

from .config_file import (CHUNKSIZE_MAX_DEFAULT, NUMBER_BITS_DEFAULT, NUMBERS_DEFAULT,
                          RETRIES_MAX_DEFAULT, TASK_LOAD_SECONDS, TIMEOUT_MAX_DEFAULT, cpu_count,
                          read_config_file)
from .errors import ConfigError
from .job import START_METHODS

StartMethod = Literal[START_METHODS]


class StrictModel(BaseModel):
    """What config.yaml and job files are read into: no unknown key, no coercion
    ("3" is no number), nothing changed once read."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class JobDefaults(StrictModel):
    """Pool settings and timeout for a job that does not name them."""

    processes: Optional[int] = Field(default=None, ge=1)  # None: every allowed core
    chunksize: int = Field(default=1000, ge=1)
    maxtasksperchild: Optional[int] = Field(default=None, ge=1)
    start_method: StartMethod = "forkserver"
    ordered: bool = True
    timeout: float = Field(default=300, gt=0)
    retries: Optional[int] = Field(default=None, ge=0)  # None: max_chunk_attempts - 1


class Limits(StrictModel):
    """Caps no job may pass; a job over one fails before any work starts."""

    job_file_bytes: int = Field(default=1 << 20, ge=1)
    numbers: int = Field(default=NUMBERS_DEFAULT, ge=1)
    number_bits: int = Field(default=NUMBER_BITS_DEFAULT, ge=2)
    range_length: int = Field(default=10**12, ge=1)
    processes_per_job: Optional[int] = Field(default=None, ge=1)  # None: max_processes
    chunksize: int = Field(default=CHUNKSIZE_MAX_DEFAULT, ge=1)
    timeout: float = Field(default=TIMEOUT_MAX_DEFAULT, gt=0)
    queued_jobs: int = Field(default=10_000, ge=1)
    retries: int = Field(default=RETRIES_MAX_DEFAULT, ge=0)


class DaskSettings(StrictModel):
    """Where the Dask cluster is, for `backend: dask`."""

    scheduler: str = Field(pattern=r"^(tcp|tls|ws|wss|inproc|ucx)://.+")  # e.g. tcp://10.0.0.5:8786
    connect_timeout: float = Field(default=2.0, gt=0)  # seconds one try to reach it may take


class Config(StrictModel):
    """Everything config.yaml can say."""

    max_processes: Optional[int] = Field(default=None, ge=1)  # None: the machine's cores
    max_running_jobs: int = Field(default=4, ge=1)
    chunks_ahead_per_process: int = Field(default=2, ge=1)
    max_chunk_attempts: int = Field(default=3, ge=1)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    retry_backoff_max_seconds: float = Field(default=30, ge=0)
    retention_days: Optional[float] = Field(default=None, gt=0)  # None: keep forever
    rescan_seconds: float = Field(default=1.0, gt=0)
    pool_idle_seconds: float = Field(default=60, ge=0)
    fsync_seconds: float = Field(default=1.0, ge=0)
    # how many output lines (primes, kept numbers, values) a result holds inline; its
    # name before tasks, inline_primes_max, is still read
    inline_max: int = Field(default=100, ge=0, validation_alias=AliasChoices(
        "inline_max", "inline_primes_max"))
    task_load_seconds: float = Field(default=TASK_LOAD_SECONDS, gt=0)  # a plugin's trial load
    metrics_port: Optional[int] = Field(default=None, ge=1, le=65535)  # None: no metrics
    backend: Literal["local", "dask"] = "local"
    dask: Optional[DaskSettings] = None
    defaults: JobDefaults = JobDefaults()
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _dask_needs_its_scheduler(self) -> "Config":
        if self.backend == "dask" and self.dask is None:
            raise ValueError("backend: dask needs `dask: {scheduler: tcp://HOST:PORT}`")
        return self

    @property
    def total_processes(self) -> int:
        """Worker processes allowed across all pools of one daemon."""
        return self.max_processes or cpu_count()

    @property
    def default_retries(self) -> int:
        """Retries of a lost chunk for a job that names none."""
        if self.defaults.retries is not None:
            return self.defaults.retries
        return self.max_chunk_attempts - 1

    def retry_delay_seconds(self, retry: int) -> float:
        """How long the `retry`-th retry (1, 2, ...) of a lost chunk waits: doubling from
        retry_backoff_seconds, at most retry_backoff_max_seconds."""
        return min(self.retry_backoff_seconds * 2 ** (retry - 1), self.retry_backoff_max_seconds)

    @property
    def processes_per_job(self) -> int:
        """The most workers one job may ask for."""
        return min(self.limits.processes_per_job or self.total_processes, self.total_processes)


def load_config(root: Path) -> Config:
    """Read `root/config.yaml` (absent or empty: all defaults); raise ConfigError if it is
    wrong, naming the file, the line and the setting, with the fix."""
    written = read_config_file(root)
    try:
        return Config.model_validate(written.settings)
    except ValidationError as exc:
        node = yaml.compose(written.text, Loader=yaml.SafeLoader)  # where each setting is
        raise ConfigError(_explained(written.path, node, exc)) from exc


def _explained(path: Path, node: Optional[yaml.Node], exc: ValidationError) -> str:
    """One line for a bad setting: the file, line and setting, what is wrong, the fix."""
    from .schema_errors import explain, first_error, loc_of, more_problems
    from .yaml_places import node_at

    error = first_error(exc)
    loc = loc_of(error)
    model = Config
    for part in loc[:-1]:  # the settings model the bad key is in (limits: Limits, ...)
        field = model.model_fields.get(str(part))
        inner = [t for t in get_args(field.annotation) or (field.annotation,)
                 if isinstance(t, type) and issubclass(t, BaseModel)] if field else []
        model = inner[0] if inner else model
    setting = ".".join(str(part) for part in loc)
    if not loc:  # a check of the whole file (backend: dask needs dask:)
        what, fix = error["msg"].removeprefix("Value error, "), "see config.yaml's comments"
    else:
        what, fix = explain(error, loc, model)
    what += more_problems(exc)
    at = node_at(node, loc, key_only=error["type"] == "extra_forbidden") if loc and node else None
    where = f", line {at.start_mark.line + 1}, column {at.start_mark.column + 1}" if at else ""
    where += f", setting {setting}" if loc else ""
    return f"{path}{where}: {what}{'' if what.endswith('?') else '.'} Fix: {fix}"


CONFIG_TEMPLATE = """\
# runner: settings and limits of this spool. Every setting is optional;
# each line shows its default. Uncomment and edit to change one.

# Worker processes across all pools of one daemon (default: the machine's cores).
# max_processes: 2
# Jobs one daemon runs at once; more wait in jobs/.
# max_running_jobs: 4
# Chunks kept in flight per worker process: enough to keep workers busy,
# few enough that memory stays bounded and a cancel takes effect at once.
# chunks_ahead_per_process: 2
# Tries for a chunk whose worker died (killed, crashed) before its job fails,
# for jobs that name no `retries` and when defaults.retries is null (tries = retries + 1).
# max_chunk_attempts: 3
# A lost chunk is tried again after a backoff: this many seconds, doubled at each
# further retry of the same chunk, at most retry_backoff_max_seconds.
# retry_backoff_seconds: 0.5
# retry_backoff_max_seconds: 30
# Finished jobs (their folders in jobs/.state/ and their outbox/ files) older than
# this many days are removed by the daemon, as `runner prune` does (null: keep forever).
# retention_days: null
# How often jobs/ is rescanned, in case the file watcher missed an event.
# rescan_seconds: 1.0
# A pool left unused this long is closed (its processes freed).
# pool_idle_seconds: 60
# Running jobs' output and checkpoints are flushed to disk (fsync) this often.
# fsync_seconds: 1.0
# Up to this many output lines (primes, kept numbers, values) go inline in the result
# file; more go to a file beside it (outbox/<id>.primes, .kept or .jsonl).
# inline_max: 100
# A plugin task is first imported in a process of its own, given this many seconds:
# one whose import hangs or kills its process is reported broken, and the daemon goes on.
# task_load_seconds: 20
# The daemon serves Prometheus metrics at http://127.0.0.1:<port>/metrics when
# this names a port, e.g. 9464 (null: no metrics).
# metrics_port: null

# Where chunks run: local (this machine's pools, no server) or dask (a Dask
# distributed cluster; pip install 'runner[dask]'; the README's section
# "Beyond one machine" tells how). With dask, max_processes is the cluster's
# worker threads that this daemon keeps busy.
# backend: local
# With backend: dask, name its scheduler (connect_timeout: seconds one try to
# reach it may take), e.g. dask: {scheduler: "tcp://HOST:8786", connect_timeout: 2.0}
# dask: null

# Pool settings for jobs that do not name them.
# defaults:
#   processes: null        # null: every process the limits allow
#   chunksize: 1000
#   maxtasksperchild: null # null: workers live as long as their pool
#   start_method: forkserver   # fork | spawn | forkserver
#   ordered: true          # true: primes in input order; false: completion order
#   timeout: 300           # seconds one chunk may run before its worker is stopped
#   retries: null          # retries of a chunk whose worker died (null: max_chunk_attempts - 1)

# Caps no job may pass; a job over one fails before any work starts.
# limits:
#   job_file_bytes: 1048576
#   numbers: 100000000     # numbers in one job (inline or in its numbers_file)
#   number_bits: 4096      # size of each number
#   range_length: 1000000000000
#   processes_per_job: null    # null: max_processes
#   chunksize: 4194304
#   timeout: 3600
#   queued_jobs: 10000
#   retries: 100
"""
