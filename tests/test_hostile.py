"""Hostile job files, end-to-end: job files are untrusted data.

Anyone who can write into jobs/ can drop anything there. For every file with a job
suffix, whatever it holds or is (a FIFO, a symlink, a device, a folder), the daemon
must write exactly one result with state `failed` and an `error` a person can act on
(a `message` naming the file and a `fix`), or do what the README documents (a UTF-8 BOM
is text, `017` is 17, a taken id becomes `id-2`). The daemon never dies and never stalls,
good jobs dropped among the bad ones give exact primes, and `runner status` keeps
answering. The last test floods jobs/ with small jobs and watches the daemon's memory
and `runner status` while it works through them.

Results are matched to the files that caused them by their `source` field
(`jobs/<name>`), so a file that produced no result, or two, is caught whatever id it got.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import pytest
import yaml

from conftest import drop_job, result_primes, run_cli, sieve

# -- references and helpers ----------------------------------------------------------


_PRIMES = set(sieve(300_000))


def primes_of(numbers) -> list[int]:
    return [n for n in numbers if n in _PRIMES]


def drop_bytes(spool, name: str, data: bytes) -> Path:
    """Drop raw bytes the safe way: a hidden name, then a rename into jobs/."""
    hidden = spool.jobs / f".{len(name)}-{time.monotonic_ns()}.tmp"
    hidden.write_bytes(data)
    dest = spool.jobs / name
    os.rename(hidden, dest)
    return dest


def read_results(spool) -> list[tuple[str, dict]]:
    """Every result file in outbox/ (hidden names too) with its parsed content."""
    found = []
    for name in sorted(os.listdir(spool.outbox)):
        if not name.endswith(".yaml"):
            continue
        try:
            document = yaml.safe_load((spool.outbox / name).read_text(errors="replace"))
        except (OSError, yaml.YAMLError) as exc:
            document = {"unreadable": repr(exc)}
        found.append((name, document if isinstance(document, dict) else {"raw": document}))
    return found


def results_by_source(spool) -> dict[str, list[tuple[str, dict]]]:
    """Results grouped by the job file they came from (`source: jobs/<name>`)."""
    grouped: dict[str, list[tuple[str, dict]]] = {}
    for name, document in read_results(spool):
        source = str(document.get("source", "?"))
        grouped.setdefault(source.removeprefix("jobs/"), []).append((name, document))
    return grouped


def wait_for_sources(spool, names, timeout: float, grace: float = 1.0):
    """Wait until each file in `names` has a result (or `timeout`), then `grace` more
    seconds so that a second result for the same file would show; the results by source."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        grouped = results_by_source(spool)
        if all(name in grouped for name in names):
            break
        time.sleep(0.1)
    time.sleep(grace)
    return results_by_source(spool)


def wait_ready(daemon, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "daemon started" in daemon.log() or not daemon.alive():
            break
        time.sleep(0.02)
    assert daemon.alive() and "daemon started" in daemon.log(), daemon.log()


def status_listing(spool, timeout: float = 10) -> tuple[Optional[float], str, list]:
    """(seconds `runner status --json` took, or None if it did not answer in `timeout`;
    a note on what went wrong, else ''; the jobs it listed)."""
    start = time.perf_counter()
    try:
        out = run_cli(spool, "status", "--json", timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"`runner status --json` did not answer within {timeout} s", []
    took = time.perf_counter() - start
    if out.returncode != 0:
        return took, f"`runner status --json` exited {out.returncode}: {out.stderr.strip()[-500:]}", []
    try:
        listed = json.loads(out.stdout)["jobs"]
    except (ValueError, KeyError, TypeError):
        return took, f"`runner status --json` printed no JSON: {out.stdout[:200]!r}", []
    return took, "", listed


def timed_status(spool, timeout: float = 10) -> tuple[Optional[float], str]:
    took, note, _ = status_listing(spool, timeout)
    return took, note


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def log_problems(daemon) -> list[str]:
    """Lines of the daemon's log that show a bug caught by its safety nets."""
    bad = ("daemon loop error", "unexpected error", "Traceback", "cannot record")
    return [clip(line, 400) for line in daemon.log().splitlines() if any(word in line for word in bad)]


def clip(text: str, limit: int = 300) -> str:
    """`text`, cut to `limit` characters for a readable failure report."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def log_tail(daemon, lines: int = 25) -> str:
    return "\n".join(clip(line, 400) for line in daemon.log().splitlines()[-lines:])


def stop_daemon(daemon) -> str:
    """Stop the daemon with SIGTERM; a note if it was dead, or did not stop cleanly."""
    if not daemon.alive():
        return f"the daemon died (exit code {daemon.process.returncode})"
    try:
        code = daemon.stop(timeout=10)
    except subprocess.TimeoutExpired:
        return "the daemon did not stop within 10 s of SIGTERM (stuck); killed"
    return "" if code == 0 else f"the daemon exited {code} on SIGTERM"


# -- the cases -----------------------------------------------------------------------

Make = Union[bytes, str, Callable[[object, Path], None]]


@dataclass
class Case:
    """A file dropped into jobs/ as `name` and what must come of it."""

    name: str
    make: Make          # the file's content, or a function(spool, outside) that creates it
    expect: str = "failed"
    numbers: Optional[list[int]] = None  # for expect == "done": the numbers it tests
    words: tuple[str, ...] = ()  # one of these must be in the error's message or fix
    id: Optional[str] = None  # for expect == "done": the id its result must have
    names: Optional[str] = None  # the file the message must name (default: jobs/<name>)
    not_words: tuple[str, ...] = ()  # none of these may be in the message


def _job(numbers) -> str:
    return f"numbers: {list(numbers)}\n"


GOOD_NUMBERS = list(range(9_990, 10_030))

# a marker a `!!python/...` tag would create if it were ever executed
MARKER = "/tmp/runner-hostile-tag-was-executed"

BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{chr(98 + k)}: &{chr(98 + k)} [{','.join(['*' + chr(97 + k)] * 9)}]\n"
              for k in range(8))
    + "numbers: *i\n"
)


def _content_cases() -> list[Case]:
    cases = [
        # broken YAML
        Case("broken-bracket.yaml", "numbers: [1, 2\npool: {processes: 2\n", words=("yaml",)),
        Case("broken-indent.yaml", "numbers:\n  - 2\n - 3\n", words=("yaml",)),
        Case("broken-tab.yaml", "numbers: [2]\npool:\n\tprocesses: 2\n", words=("yaml",)),
        Case("broken-extra-bracket.yaml", "numbers: [2, 3]]\n", words=("yaml",)),
        Case("broken-colon.yaml", ":\n", words=()),
        Case("two-documents.yaml", "numbers: [2]\n---\nnumbers: [3]\n", words=("document", "yaml")),
        # encodings
        Case("not-utf8.yaml", b"numbers: [2, 3]\n# caf\xe9 \xff\xfe\n", words=("utf-8",)),
        Case("latin1-id.yaml", b"id: caf\xe9\nnumbers: [2]\n", words=("utf-8",)),
        Case("utf16.yaml", "numbers: [2, 3]\n".encode("utf-16"), words=("utf-8",)),
        Case("nul-byte.yaml", b"numbers: [2, 3]\x00\n", words=()),
        Case("control-char.yaml", b"numbers: [2, \x07 3]\n", words=()),
        # empty, or not a mapping at the top
        Case("empty.yaml", b"", words=("empty",)),
        Case("blank.yaml", b"\n   \n\t\n", words=("empty",)),
        Case("only-comment.yaml", b"# nothing here\n", words=("mapping", "empty")),
        Case("only-marker.yaml", b"---\n...\n", words=("mapping", "empty")),
        Case("null.yaml", b"null\n", words=("mapping",)),
        Case("top-list.yaml", "- 2\n- 3\n", words=("mapping",)),
        Case("top-flow-list.yaml", "[numbers, 2]\n", words=("mapping",)),
        Case("top-int.yaml", "42\n", words=("mapping",)),
        Case("top-string.yaml", "hello\n", words=("mapping",)),
        Case("top-bool.yaml", "true\n", words=("mapping",)),
        Case("top-float.yaml", "3.5\n", words=("mapping",)),
        # numbers that are not plain non-negative decimal integers
        Case("float.yaml", "numbers: [2.5]\n", words=("integer",)),
        Case("float-exp.yaml", "numbers: [1e3]\n", words=("integer",)),
        Case("float-inf.yaml", "numbers: [.inf]\n", words=("integer",)),
        Case("float-nan.yaml", "numbers: [.nan]\n", words=("integer",)),
        Case("string.yaml", "numbers: ['7']\n", words=("integer",)),
        Case("string-unquoted.yaml", "numbers: [seven]\n", words=("integer",)),
        Case("bool.yaml", "numbers: [true]\n", words=("integer",)),
        Case("bool-yes.yaml", "numbers: [yes]\n", words=("integer",)),
        Case("negative.yaml", "numbers: [-7]\n", words=("negative",)),
        Case("negative-range.yaml", "range: {start: -5, stop: 10}\n", words=("range.start", "0")),
        Case("hex.yaml", "numbers: [0x1f]\n", words=("decimal",)),
        Case("binary.yaml", "numbers: [0b101]\n", words=("decimal",)),
        Case("underscore.yaml", "numbers: [1_000]\n", words=("decimal",)),
        Case("plus.yaml", "numbers: [+5]\n", words=("decimal",)),
        Case("sexagesimal.yaml", "numbers: [10:20]\n", words=("decimal",)),
        Case("date.yaml", "numbers: [2001-12-14]\n", words=("integer",)),
        Case("numbers-scalar.yaml", "numbers: 5\n", words=("list",)),
        Case("numbers-mapping.yaml", "numbers: {a: 1}\n", words=("list",)),
        Case("numbers-nested.yaml", "numbers: [[2, 3]]\n", words=("integer",)),
        Case("numbers-set.yaml", "numbers: !!set {2, 3}\n", words=("list",)),
        # the job's shape
        Case("no-numbers.yaml", "pool: {processes: 1}\n", words=("numbers",)),
        Case("numbers-null.yaml", "numbers: null\n", words=("numbers",)),
        Case("two-sources.yaml", "numbers: [2]\nrange: {start: 0, stop: 10}\n", words=("both",)),
        Case("range-backwards.yaml", "range: {start: 10, stop: 5}\n", words=("below",)),
        Case("range-no-stop.yaml", "range: {start: 0}\n", words=("stop",)),
        Case("range-list.yaml", "range: [0, 10]\n", words=("mapping",)),
        Case("range-huge.yaml", f"range: {{start: 0, stop: {10**20}}}\n", words=("range_length",)),
        Case("range-step.yaml", "range: {start: 0, stop: 10, step: 2}\n", words=("step",)),
        # settings: wrong types, out of bounds, misspelt, unknown
        Case("processes-zero.yaml", "numbers: [2]\npool: {processes: 0}\n", words=("processes",)),
        Case("processes-negative.yaml", "numbers: [2]\npool: {processes: -1}\n", words=("processes",)),
        Case("processes-huge.yaml", "numbers: [2]\npool: {processes: 100000}\n", words=("max_processes", "limit")),
        Case("processes-string.yaml", "numbers: [2]\npool: {processes: '2'}\n", words=("processes",)),
        Case("processes-float.yaml", "numbers: [2]\npool: {processes: 2.0}\n", words=("processes",)),
        Case("processes-bool.yaml", "numbers: [2]\npool: {processes: true}\n", words=("processes",)),
        Case("chunksize-zero.yaml", "numbers: [2]\npool: {chunksize: 0}\n", words=("chunksize",)),
        Case("chunksize-huge.yaml", f"numbers: [2]\npool: {{chunksize: {10**30}}}\n", words=("chunksize",)),
        Case("maxtasks-negative.yaml", "numbers: [2]\npool: {maxtasksperchild: -3}\n", words=("maxtasksperchild",)),
        Case("start-method-typo.yaml", "numbers: [2]\npool: {start_method: forkk}\n", words=("did you mean 'fork'",)),
        Case("start-method-int.yaml", "numbers: [2]\npool: {start_method: 5}\n", words=("start",)),
        Case("ordered-string.yaml", "numbers: [2]\npool: {ordered: 'yes'}\n", words=("ordered",)),
        Case("ordered-int.yaml", "numbers: [2]\npool: {ordered: 1}\n", words=("ordered",)),
        Case("pool-list.yaml", "numbers: [2]\npool: [1, 2]\n", words=("pool",)),
        Case("timeout-zero.yaml", "numbers: [2]\ntimeout: 0\n", words=("timeout",)),
        Case("timeout-negative.yaml", "numbers: [2]\ntimeout: -5\n", words=("timeout",)),
        Case("timeout-string.yaml", "numbers: [2]\ntimeout: '10'\n", words=("timeout",)),
        Case("timeout-inf.yaml", "numbers: [2]\ntimeout: .inf\n", words=("timeout",)),
        Case("timeout-nan.yaml", "numbers: [2]\ntimeout: .nan\n", words=("timeout",)),
        Case("timeout-huge.yaml", "numbers: [2]\ntimeout: 1e400\n", words=("timeout",)),
        Case("unknown-key.yaml", "numbers: [2]\ncolour: red\n", words=("colour",)),
        Case("misspelt-numbers.yaml", "numbres: [2, 3]\n", words=("did you mean 'numbers'",)),
        Case("misspelt-pool.yaml", "numbers: [2]\npool: {proceses: 2}\n", words=("did you mean 'processes'",)),
        Case("misspelt-timeout.yaml", "numbers: [2]\ntimout: 5\n", words=("did you mean 'timeout'",)),
        Case("capitalised-key.yaml", "Numbers: [2]\n", words=("did you mean 'numbers'",)),
        Case("int-key.yaml", "numbers: [2]\n1: 2\n", words=("key", "not a job field")),
        Case("null-key.yaml", "numbers: [2]\n~: 2\n", words=("key", "not a job field"),
             not_words=("field None",)),
        Case("list-key.yaml", "numbers: [2]\n? [a, b]\n: 1\n", words=("yaml", "hashable")),
        # ids
        Case("id-slash.yaml", "id: a/b\nnumbers: [2]\n", words=("id",)),
        Case("id-traversal.yaml", "id: ../../etc/x\nnumbers: [2]\n", words=("id",)),
        Case("id-dotdot.yaml", "id: ..\nnumbers: [2]\n", words=("id",)),
        Case("id-dot.yaml", "id: .\nnumbers: [2]\n", words=("id",)),
        Case("id-space.yaml", "id: a b\nnumbers: [2]\n", words=("id",)),
        Case("id-empty.yaml", "id: ''\nnumbers: [2]\n", words=("id",)),
        Case("id-long.yaml", f"id: {'x' * 65}\nnumbers: [2]\n", words=("id",)),
        Case("id-int.yaml", "id: 5\nnumbers: [2]\n", words=("id",)),
        Case("id-list.yaml", "id: [a]\nnumbers: [2]\n", words=("id",)),
        Case("id-unicode.yaml", "id: caf\u00e9\nnumbers: [2]\n", words=("id",)),
        Case("id-newline.yaml", 'id: "a\\nb"\nnumbers: [2]\n', words=("id",)),
        # code, aliases, size, depth
        Case("tag-apply.yaml", f"!!python/object/apply:os.system ['touch {MARKER}']\n", words=("tag",)),
        Case("tag-apply-value.yaml", f"numbers: !!python/object/apply:os.system ['touch {MARKER}']\n",
             words=("tag",)),
        Case("tag-name.yaml", "numbers: [2]\ntimeout: !!python/name:os.system\n", words=("tag",)),
        Case("tag-object-new.yaml", "numbers: !!python/object/new:builtins.list [[2, 3]]\n", words=("tag",)),
        Case("tag-tuple.yaml", "numbers: !!python/tuple [2, 3]\n", words=("tag",)),
        Case("tag-custom.yaml", "numbers: !mine [2, 3]\n", words=("tag",)),
        Case("tag-binary.yaml", "numbers: !!binary aGVsbG8=\n", words=("list", "bytes")),
        Case("billion-laughs.yaml", BILLION_LAUGHS, words=("alias", "anchor")),
        Case("alias.yaml", "base: &b [2, 3]\nnumbers: *b\n", words=("alias", "anchor")),
        Case("merge-key.yaml", "p: &p {processes: 1}\nnumbers: [2]\npool:\n  <<: *p\n", words=("alias", "anchor")),
        Case("five-megabytes.yaml", "numbers: [" + "7, " * (5 * 2**20 // 3) + "7]\n",
             words=("job_file_bytes",)),
        Case("huge-integer.yaml", "numbers: [" + "9" * 200_000 + "]\n", words=("number_bits",)),
        Case("integer-4097-bits.yaml", f"numbers: [{2**4096}]\n", words=("number_bits",)),
        Case("huge-range-stop.yaml", f"range: {{start: {2**5000}, stop: {2**5000 + 10}}}\n",
             words=("number_bits",)),
        Case("deep-lists.yaml", "numbers: " + "[" * 300_000 + "]" * 300_000 + "\n",
             words=("nest", "deep", "depth")),
        Case("deep-mappings.yaml", "numbers: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n",
             words=("nest", "deep", "depth")),
        Case("deep-block.yaml", "numbers:\n" + "".join(" " * k + "-\n" for k in range(2000)),
             words=("nest", "deep", "depth", "integer", "yaml")),
        # YAML allows implicit keys of at most 1024 characters: a syntax error, at line 2
        Case("long-key.yaml", "numbers: [2]\n" + "k" * 500_000 + ": 1\n", words=("yaml", "not a job field")),
        Case("long-explicit-key.yaml", "numbers: [2]\n? " + "k" * 500_000 + "\n: 1\n",
             words=("not a job field",)),
        Case("many-errors.yaml", "numbers: [a, b, c, d]\npool: {processes: x, chunksize: y}\nfoo: 1\n",
             words=("foo",)),
        # documented behaviour, not failures
        Case("bom.yaml", "\ufeffnumbers: [2, 3, 4]\n".encode("utf-8"), expect="done", numbers=[2, 3, 4],
             id="bom"),
        Case("leading-zero.yaml", "numbers: [017, 4, 0, 1]\n", expect="done", numbers=[17, 4, 0, 1],
             id="leading-zero"),
        Case("crlf.yaml", b"numbers: [5, 6, 7]\r\npool: {processes: 1}\r\n", expect="done",
             numbers=[5, 6, 7], id="crlf"),
        Case("weird name & spaces.yaml", _job([11, 12, 13]), expect="done", numbers=[11, 12, 13],
             id="weird_name___spaces"),
        Case("suffix.yml", _job([19, 20]), expect="done", numbers=[19, 20], id="suffix"),
        Case("duplicated-numbers.yaml", _job([7, 7, 8, 7]), expect="done", numbers=[7, 7, 8, 7],
             id="duplicated-numbers"),
    ]
    return cases


# special files: made by a function of (spool, a folder outside the spool)


def _numbers_file(path: Path) -> Path:
    path.write_text("".join(f"{n}\n" for n in GOOD_NUMBERS))
    return path


def _mknod_zero(path: Path) -> None:
    """A character device like /dev/zero at `path`; a symlink to /dev/zero if mknod is
    not allowed here (the test then still covers a device reached through a link)."""
    try:
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    except (PermissionError, OSError):
        os.symlink("/dev/zero", path)


def _make_fifo_job(spool, outside):
    os.mkfifo(spool.jobs / "fifo-job.yaml")


def _make_link_to_fifo(spool, outside):
    os.mkfifo(spool.root / "a.fifo")
    os.symlink(spool.root / "a.fifo", spool.jobs / "link-to-fifo.yaml")


def _make_chardev_job(spool, outside):
    _mknod_zero(spool.jobs / "chardev.yaml")


def _make_link_to_devzero(spool, outside):
    os.symlink("/dev/zero", spool.jobs / "link-to-devzero.yaml")


def _make_link_to_job(spool, outside):
    (spool.root / "target.yaml").write_text(_job(GOOD_NUMBERS))
    os.symlink(spool.root / "target.yaml", spool.jobs / "link-to-job.yaml")


def _make_link_outside(spool, outside):
    (outside / "elsewhere.yaml").write_text(_job(GOOD_NUMBERS))
    os.symlink(outside / "elsewhere.yaml", spool.jobs / "link-outside.yaml")


def _make_dangling_link(spool, outside):
    os.symlink(spool.root / "no-such-file.yaml", spool.jobs / "dangling-link.yaml")


def _make_link_loop(spool, outside):
    os.symlink(spool.root / "loop-b", spool.root / "loop-a")
    os.symlink(spool.root / "loop-a", spool.root / "loop-b")
    os.symlink(spool.root / "loop-a", spool.jobs / "link-loop.yaml")


def _make_folder(spool, outside):
    folder = spool.jobs / "folder.yaml"
    folder.mkdir()
    (folder / "inner.yaml").write_text(_job([2, 3]))


def _job_naming(file_name: str, numbers_file: str):
    def make(spool, outside):
        drop_job(spool, file_name, f"numbers_file: {json.dumps(numbers_file)}\n")
    return make


def _make_nf_fifo(spool, outside):
    os.mkfifo(spool.root / "pipe.numbers")
    _job_naming("nf-fifo.yaml", "pipe.numbers")(spool, outside)


def _make_nf_chardev(spool, outside):
    _mknod_zero(spool.root / "zero.numbers")
    _job_naming("nf-chardev.yaml", "zero.numbers")(spool, outside)


def _make_nf_devzero_link(spool, outside):
    os.symlink("/dev/zero", spool.root / "devzero.numbers")
    _job_naming("nf-devzero-link.yaml", "devzero.numbers")(spool, outside)


def _make_nf_symlink(spool, outside):
    _numbers_file(spool.root / "real.numbers")
    os.symlink(spool.root / "real.numbers", spool.root / "link.numbers")
    _job_naming("nf-symlink.yaml", "link.numbers")(spool, outside)


def _make_nf_dir_symlink(spool, outside):
    (spool.root / "realdir").mkdir()
    _numbers_file(spool.root / "realdir" / "n.numbers")
    os.symlink(spool.root / "realdir", spool.root / "linkdir")
    _job_naming("nf-dir-symlink.yaml", "linkdir/n.numbers")(spool, outside)


def _make_nf_dotdot(spool, outside):
    _numbers_file(outside / "outside.numbers")
    _job_naming("nf-dotdot.yaml", f"../{outside.name}/outside.numbers")(spool, outside)


def _make_nf_dotdot_inside(spool, outside):
    _numbers_file(spool.root / "inside.numbers")
    _job_naming("nf-dotdot-inside.yaml", "outbox/../inside.numbers")(spool, outside)


def _make_nf_absolute(spool, outside):
    _numbers_file(spool.root / "abs.numbers")
    _job_naming("nf-absolute.yaml", str(spool.root / "abs.numbers"))(spool, outside)


def _make_nf_abs_dev(spool, outside):
    _job_naming("nf-dev-zero.yaml", "/dev/zero")(spool, outside)


def _make_nf_folder(spool, outside):
    _job_naming("nf-folder.yaml", "outbox")(spool, outside)


def _make_nf_missing(spool, outside):
    _job_naming("nf-missing.yaml", "no-such.numbers")(spool, outside)


def _make_nf_garbage(spool, outside):
    (spool.root / "garbage.numbers").write_text("2\n3\nabc\n5\n")
    _job_naming("nf-garbage.yaml", "garbage.numbers")(spool, outside)


def _make_nf_huge_line(spool, outside):
    (spool.root / "huge-line.numbers").write_text("7" * 3_000_000)
    _job_naming("nf-huge-line.yaml", "huge-line.numbers")(spool, outside)


def _make_nf_binary(spool, outside):
    (spool.root / "binary.numbers").write_bytes(bytes(range(256)) * 64 + b"\x00\xff" * 1000)
    _job_naming("nf-binary.yaml", "binary.numbers")(spool, outside)


def _make_nf_empty_name(spool, outside):
    _job_naming("nf-empty-name.yaml", "")(spool, outside)


def _make_nf_nul(spool, outside):
    _job_naming("nf-nul.yaml", "a\0b")(spool, outside)


SPECIAL_CASES = [
    Case("fifo-job.yaml", _make_fifo_job, words=("regular",)),
    Case("link-to-fifo.yaml", _make_link_to_fifo, words=("symlink", "symbolic")),
    Case("chardev.yaml", _make_chardev_job, words=("regular", "symlink", "symbolic")),
    Case("link-to-devzero.yaml", _make_link_to_devzero, words=("symlink", "symbolic")),
    Case("link-to-job.yaml", _make_link_to_job, words=("symlink", "symbolic")),
    Case("link-outside.yaml", _make_link_outside, words=("symlink", "symbolic")),
    Case("dangling-link.yaml", _make_dangling_link, words=("symlink", "symbolic")),
    Case("link-loop.yaml", _make_link_loop, words=("symlink", "symbolic")),
    Case("folder.yaml", _make_folder, words=("regular",)),
    Case("nf-fifo.yaml", _make_nf_fifo, words=("regular",)),
    Case("nf-chardev.yaml", _make_nf_chardev, words=("regular", "symlink")),
    Case("nf-devzero-link.yaml", _make_nf_devzero_link, words=("symlink",)),
    Case("nf-symlink.yaml", _make_nf_symlink, words=("symlink",)),
    Case("nf-dir-symlink.yaml", _make_nf_dir_symlink, words=("symlink",)),
    Case("nf-dotdot.yaml", _make_nf_dotdot, words=("inside the spool", "..")),
    Case("nf-dotdot-inside.yaml", _make_nf_dotdot_inside, words=("inside the spool", "..")),
    Case("nf-absolute.yaml", _make_nf_absolute, words=("inside the spool", "relative")),
    Case("nf-dev-zero.yaml", _make_nf_abs_dev, words=("inside the spool", "relative")),
    Case("nf-folder.yaml", _make_nf_folder, words=("regular",)),
    Case("nf-missing.yaml", _make_nf_missing, words=("no such file", "cannot be read")),
    Case("nf-garbage.yaml", _make_nf_garbage, words=("abc",), names="garbage.numbers"),
    Case("nf-huge-line.yaml", _make_nf_huge_line, words=("number_bits", "digits"), names="huge-line.numbers"),
    Case("nf-binary.yaml", _make_nf_binary, words=("integer", "line"), names="binary.numbers"),
    Case("nf-empty-name.yaml", _make_nf_empty_name, words=("numbers_file",)),
    Case("nf-nul.yaml", _make_nf_nul, words=("inside the spool",)),
]

GOOD_CASES = [
    Case("good-list.yaml", _job(GOOD_NUMBERS), expect="done", numbers=GOOD_NUMBERS, id="good-list"),
    Case("good-range.yaml", "range: {start: 100000, stop: 100500}\n", expect="done",
         numbers=list(range(100_000, 100_500)), id="good-range"),
    Case("good-big.yaml", _job(range(0, 20_000)), expect="done", numbers=list(range(20_000)),
         id="good-big"),
    Case("good-settings.yaml", "id: good-settings\nnumbers: [97, 98, 99, 100, 101]\n"
         "pool: {processes: 1, chunksize: 2, maxtasksperchild: 1}\ntimeout: 30\n", expect="done",
         numbers=[97, 98, 99, 100, 101], id="good-settings"),
    Case("good-unordered.yaml", "numbers: [101, 103, 4, 107, 109]\npool: {ordered: false, chunksize: 1}\n",
         expect="done", numbers=[101, 103, 4, 107, 109], id="good-unordered"),
    Case("good-comments.yaml", "# a comment\nid: good-comments   # trailing\nnumbers:\n  - 2\n  - 4\n"
         "  - 5\n", expect="done", numbers=[2, 4, 5], id="good-comments"),
]


def _make_numbers_file_job(spool, outside):
    _numbers_file(spool.root / "good.numbers")
    _job_naming("good-numbers-file.yaml", "good.numbers")(spool, outside)


GOOD_CASES.append(Case("good-numbers-file.yaml", _make_numbers_file_job, expect="done",
                       numbers=GOOD_NUMBERS, id="good-numbers-file"))

# README: "A job whose id is taken ... gets the first free id-N, and its result says so by its id"
TWINS = [Case("twin-a.yaml", "id: twin\nnumbers: [29, 30, 31]\n", expect="done", numbers=[29, 30, 31]),
         Case("twin-b.yaml", "id: twin\nnumbers: [37, 38, 39]\n", expect="done", numbers=[37, 38, 39])]


def create(spool, outside: Path, case: Case) -> None:
    if callable(case.make):
        case.make(spool, outside)
    else:
        data = case.make.encode("utf-8") if isinstance(case.make, str) else case.make
        drop_bytes(spool, case.name, data)


def check(spool, case: Case, results: list[tuple[str, dict]]) -> list[str]:
    """What is wrong with the results the file `case.name` got (empty: all is well)."""
    label = f"{case.name}:"
    if not results:
        return [f"{label} no result"]
    problems = []
    if len(results) > 1:
        problems.append(f"{label} {len(results)} results: {[name for name, _ in results]}")
    name, result = results[0]
    if name != f"{result.get('id')}.yaml":
        problems.append(f"{label} result file {name!r} does not match its id {result.get('id')!r}")
    if name.startswith("."):
        problems.append(f"{label} its result is a hidden file, outbox/{name}")
    state = result.get("state")
    if case.expect == "done":
        if state != "done":
            problems.append(f"{label} state {state!r}, expected done: {result.get('error')}")
            return problems
        if case.id is not None and result.get("id") != case.id:
            problems.append(f"{label} id {result.get('id')!r}, expected {case.id!r}")
        if result.get("numbers_tested") != len(case.numbers):
            problems.append(f"{label} numbers_tested {result.get('numbers_tested')}, "
                            f"expected {len(case.numbers)}")
        got, want = result_primes(spool, result), primes_of(case.numbers)
        if sorted(got) != sorted(want) or (result.get("settings", {}).get("ordered", True) and got != want):
            problems.append(f"{label} primes {got[:10]}... != expected {want[:10]}...")
        return problems
    if state != "failed":
        problems.append(f"{label} state {state!r}, expected failed")
    error = result.get("error")
    if not isinstance(error, dict):
        return problems + [f"{label} no `error` mapping: {result}"]
    message, fix = error.get("message"), error.get("fix")
    if not isinstance(message, str) or not message.strip():
        problems.append(f"{label} error without a message: {error}")
        message = ""
    if not isinstance(fix, str) or not fix.strip():
        problems.append(f"{label} error without a fix: {error}")
        fix = ""
    if (case.names or f"jobs/{case.name}") not in message:
        problems.append(f"{label} message does not name the file: {clip(message)!r}")
    text = f"{message} {fix}".lower()
    if case.words and not any(word.lower() in text for word in case.words):
        problems.append(f"{label} message and fix mention none of {case.words}: {clip(message)!r}")
    for word in case.not_words:
        if word in message:
            problems.append(f"{label} message says {word!r}, which tells a person nothing: {clip(message)!r}")
    if "primes" in result or "primes_file" in result:
        problems.append(f"{label} a failed job lists primes")
    if len(message) > 2000:
        problems.append(f"{label} message of {len(message)} characters (unbounded echo of input?)")
    return problems


# -- the tests -----------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_hostile_folder_among_good_jobs(spool, start_daemon, tmp_path):
    """Every hostile file at once, good jobs interleaved: one result each, the right one."""
    if os.path.exists(MARKER):
        os.unlink(MARKER)
    daemon = start_daemon()
    wait_ready(daemon)
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = _content_cases() + SPECIAL_CASES
    everything = []
    good = GOOD_CASES + TWINS
    step = max(1, len(hostile) // len(good))
    for index, case in enumerate(hostile):
        everything.append(case)
        if index % step == 0 and good:
            everything.append(good.pop(0))
    everything += good
    for case in everything:
        create(spool, outside, case)

    problems = []
    took, note = timed_status(spool)
    if note or took > 3:
        problems.append(f"status right after the drop: {note or f'took {took:.1f} s'}")

    names = [case.name for case in everything]
    grouped = wait_for_sources(spool, names, timeout=90)
    for case in everything:
        if case in TWINS:
            continue
        problems += check(spool, case, grouped.get(case.name, []))
    # two files naming the same id: both run, as `twin` and `twin-2` (README)
    twin_ids = set()
    for case in TWINS:
        results = grouped.get(case.name, [])
        problems += check(spool, case, results)
        twin_ids.update(result.get("id") for _, result in results)
    if twin_ids != {"twin", "twin-2"}:
        problems.append(f"twin-a.yaml, twin-b.yaml (both `id: twin`): result ids {twin_ids}, "
                        "expected {'twin', 'twin-2'}")
    strays = sorted(source for source in grouped if source not in names)
    if strays:
        problems.append(f"results from no dropped file: {strays}")
    if os.path.exists(MARKER):
        problems.append(f"a !!python tag was executed: {MARKER} exists")
    took, note = timed_status(spool)
    if note or took > 3:
        problems.append(f"status at the end: {note or f'took {took:.1f} s'}")
    problems += [f"daemon log: {line}" for line in log_problems(daemon)[:20]]
    note = stop_daemon(daemon)
    if note:
        problems.append(note)
    assert not problems, (f"{len(problems)} problems:\n" + "\n".join(problems)
                          + "\n--- daemon log (tail) ---\n" + log_tail(daemon))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("case", SPECIAL_CASES, ids=[c.name for c in SPECIAL_CASES])
def test_special_file_fails_alone_and_the_daemon_goes_on(spool, start_daemon, tmp_path, case):
    """One special file at a time (FIFOs, devices, symlinks, folders, paths out of the
    spool): it gets one failed result, `runner status` answers while it is queued, and a
    good job dropped after it still runs."""
    daemon = start_daemon()
    wait_ready(daemon)
    outside = tmp_path / "outside"
    outside.mkdir()
    create(spool, outside, case)
    problems = []
    took, note = timed_status(spool)  # the special file is most likely still queued
    if note or took > 3:
        problems.append(f"status with {case.name} queued: {note or f'took {took:.1f} s'}")
    time.sleep(1.5)  # past SETTLE_SECONDS: a file seen by a rescan only is taken by now
    after = Case("after.yaml", _job(GOOD_NUMBERS), expect="done", numbers=GOOD_NUMBERS, id="after")
    create(spool, outside, after)
    grouped = wait_for_sources(spool, [case.name, after.name], timeout=20)
    problems += check(spool, case, grouped.get(case.name, []))
    problems += [f"(good job dropped after it) {p}" for p in check(spool, after, grouped.get("after.yaml", []))]
    problems += [f"daemon log: {line}" for line in log_problems(daemon)[:10]]
    note = stop_daemon(daemon)
    if note:
        problems.append(note)
    assert not problems, "\n".join(problems) + "\n--- daemon log (tail) ---\n" + log_tail(daemon)


RISKY = ("billion-laughs.yaml", "alias.yaml", "merge-key.yaml", "five-megabytes.yaml",
         "long-explicit-key.yaml",
         "huge-integer.yaml", "integer-4097-bits.yaml", "huge-range-stop.yaml", "deep-lists.yaml",
         "deep-mappings.yaml", "deep-block.yaml", "long-key.yaml", "tag-apply.yaml",
         "many-errors.yaml", "not-utf8.yaml", "two-documents.yaml")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", RISKY)
def test_costly_content_fails_alone_and_the_daemon_goes_on(spool, start_daemon, tmp_path, name):
    """The files that cost a parser the most (aliases, size, depth, long integers), one at a
    time: one failed result within seconds, and a good job dropped after it still runs."""
    case = next(c for c in _content_cases() if c.name == name)
    daemon = start_daemon()
    wait_ready(daemon)
    create(spool, tmp_path, case)
    after = Case("after.yaml", _job(GOOD_NUMBERS), expect="done", numbers=GOOD_NUMBERS, id="after")
    create(spool, tmp_path, after)
    started = time.monotonic()
    grouped = wait_for_sources(spool, [case.name, after.name], timeout=20, grace=0.5)
    problems = check(spool, case, grouped.get(case.name, []))
    problems += [f"(good job dropped after it) {p}" for p in check(spool, after, grouped.get("after.yaml", []))]
    if time.monotonic() - started > 10:
        problems.append(f"took {time.monotonic() - started:.1f} s")
    problems += [f"daemon log: {line}" for line in log_problems(daemon)[:10]]
    note = stop_daemon(daemon)
    if note:
        problems.append(note)
    assert not problems, "\n".join(problems) + "\n--- daemon log (tail) ---\n" + log_tail(daemon)


@pytest.mark.timeout(60)
def test_python_tags_are_never_executed(spool, start_daemon, tmp_path):
    if os.path.exists(MARKER):
        os.unlink(MARKER)
    daemon = start_daemon()
    wait_ready(daemon)
    tags = [c for c in _content_cases() if c.name.startswith("tag-")]
    for case in tags:
        create(spool, tmp_path, case)
    grouped = wait_for_sources(spool, [c.name for c in tags], timeout=20)
    problems = [p for case in tags for p in check(spool, case, grouped.get(case.name, []))]
    assert not os.path.exists(MARKER), "a !!python tag ran os.system"
    assert daemon.alive(), log_tail(daemon)
    assert not problems, "\n".join(problems)


@pytest.mark.timeout(60)
def test_duplicated_id_gets_the_next_free_id(spool, start_daemon, tmp_path):
    """README: a job whose id is taken gets the first free `id-N`, and its result says so.
    Three files naming one id, and a fourth whose file stem is that id: four results."""
    daemon = start_daemon()
    wait_ready(daemon)
    files = {"same-1.yaml": [41, 42, 43], "same-2.yaml": [43, 44, 45], "same-3.yaml": [47, 48]}
    for name, numbers in files.items():
        drop_job(spool, name, {"id": "same", "numbers": numbers})
    drop_job(spool, "same.yaml", {"numbers": [53, 54]})
    files["same.yaml"] = [53, 54]
    grouped = wait_for_sources(spool, list(files), timeout=20)
    ids = []
    for name, numbers in files.items():
        results = grouped.get(name, [])
        assert len(results) == 1, (name, results, log_tail(daemon))
        result_name, result = results[0]
        assert result["state"] == "done", result
        assert result_primes(spool, result) == primes_of(numbers), (name, result)
        assert result_name == f"{result['id']}.yaml"
        ids.append(result["id"])
    assert sorted(ids) == ["same", "same-2", "same-3", "same-4"], ids
    assert daemon.alive()


@pytest.mark.timeout(60)
def test_file_name_not_utf8(spool, start_daemon):
    """A job file whose *name* is not UTF-8 (bytes 0xff) and whose content is a good job:
    exactly one result (`done` under a cleaned-up id, or `failed` with a message and a fix),
    no daemon loop errors, nothing left in jobs/.state/tmp, and jobs dropped after it run
    at normal speed."""
    daemon = start_daemon()
    wait_ready(daemon)
    bad_name = os.fsdecode(b"bad-\xff-name.yaml")
    drop_bytes(spool, bad_name, b"numbers: [2, 3]\n")
    time.sleep(0.5)
    started = time.monotonic()
    for k in range(5):
        drop_job(spool, f"after-{k}.yaml", {"numbers": [2, 3, 4]})
    grouped = wait_for_sources(spool, [f"after-{k}.yaml" for k in range(5)], timeout=20, grace=2)
    elapsed = time.monotonic() - started
    problems = []
    for k in range(5):
        results = grouped.get(f"after-{k}.yaml", [])
        if len(results) != 1 or results[0][1].get("state") != "done":
            problems.append(f"after-{k}.yaml: {results}")
    if elapsed > 5:
        problems.append(f"five 3-number jobs dropped after it took {elapsed:.1f} s")
    others = {source: results for source, results in grouped.items() if not source.startswith("after-")}
    if len(others) != 1 or len(next(iter(others.values()))) != 1:
        problems.append(f"expected exactly one result for the badly named file, got {others}")
    else:
        result = next(iter(others.values()))[0][1]
        error = result.get("error") or {}
        if result.get("state") != "failed" and result.get("state") != "done":
            problems.append(f"its result has state {result.get('state')!r}")
        if result.get("state") == "failed" and not (error.get("message") and error.get("fix")):
            problems.append(f"its error lacks a message or fix: {error}")
    problems += [f"daemon log: {line}" for line in log_problems(daemon)[:6]]
    leaked = os.listdir(spool.tmp)
    if leaked:
        problems.append(f"left in jobs/.state/tmp: {leaked[:5]} ({len(leaked)} entries)")
    note = stop_daemon(daemon)
    if note:
        problems.append(note)
    assert not problems, "\n".join(problems) + "\n--- daemon log (tail) ---\n" + log_tail(daemon, 12)


# -- the flood -----------------------------------------------------------------------

FLOOD = 2_000


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def count_results(spool) -> int:
    return sum(1 for name in os.listdir(spool.outbox) if name.endswith(".yaml"))


@pytest.mark.timeout(150)
def test_flood_of_small_jobs(spool, start_daemon, tmp_path):
    """2,000 small job files dropped at once: one exact result each; the daemon's RSS stays
    within 50 MiB of what it was after the first 100 results; `runner status --json`
    answers within 3 s while the flood is worked through."""
    daemon = start_daemon()
    wait_ready(daemon)
    jobs = {f"flood-{k:05d}": [1000 + 7 * k + d for d in range(5)] for k in range(FLOOD)}
    for job_id, numbers in jobs.items():  # hidden names first: the drop itself is fast
        (spool.jobs / f".{job_id}.tmp").write_text(_job(numbers))

    samples: list[tuple[float, int, float]] = []  # (seconds, results so far, RSS MiB)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.monotonic() - start, count_results(spool), rss_mib(daemon.pid)))
            time.sleep(0.05)

    start = time.monotonic()
    for job_id in jobs:
        os.rename(spool.jobs / f".{job_id}.tmp", spool.jobs / f"{job_id}.yaml")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    statuses = []  # (seconds it took or None, results before, results after, note)
    fds_at_100 = None
    try:
        deadline = time.monotonic() + 100
        while count_results(spool) < FLOOD and time.monotonic() < deadline and daemon.alive():
            before = count_results(spool)
            if len(statuses) < 6 and before < FLOOD:
                took, note, listed = status_listing(spool, timeout=15)
                ids = [job.get("id") for job in listed]
                twice = len(ids) - len(set(ids))
                if twice:
                    note = (f"listed {len(ids)} jobs of which {twice} twice "
                            f"(e.g. {sorted(i for i in set(ids) if ids.count(i) > 1)[:3]})")
                statuses.append((took, before, count_results(spool), note))
                if fds_at_100 is None and before >= 100:
                    fds_at_100 = open_fds(daemon.pid)
            time.sleep(0.3)
        elapsed = time.monotonic() - start
        time.sleep(1.0)  # a duplicate would show by now
        fds_end = open_fds(daemon.pid)
    finally:
        stop.set()
        sampler.join(5)

    done = count_results(spool)
    rss_at_100 = next((rss for _, n, rss in samples if n >= 100 and rss), None)
    peak = max((rss for _, _, rss in samples), default=0.0)
    report = (f"{done}/{FLOOD} results in {elapsed:.1f} s; daemon RSS after 100 results "
              f"{rss_at_100} MiB, peak {peak:.1f} MiB; status calls "
              f"(s, results before, after): {[(s[0] and round(s[0], 2), s[1], s[2]) for s in statuses]}; "
              f"daemon open files when about 100 were done {fds_at_100}, at the end {fds_end}")
    print(report)
    problems = []
    if not daemon.alive():
        problems.append("the daemon died")
    grouped = results_by_source(spool)
    missing = [job_id for job_id in jobs if f"{job_id}.yaml" not in grouped]
    doubled = [job_id for job_id in jobs if len(grouped.get(f"{job_id}.yaml", [])) > 1]
    if missing:
        problems.append(f"{len(missing)} jobs without a result, e.g. {missing[:5]}")
    if doubled:
        problems.append(f"{len(doubled)} jobs with two results, e.g. {doubled[:5]}")
    wrong = []
    for job_id, numbers in jobs.items():
        for _, result in grouped.get(f"{job_id}.yaml", [])[:1]:
            if result.get("id") != job_id or result.get("state") != "done" or \
                    result_primes(spool, result) != primes_of(numbers):
                wrong.append(job_id)
    if wrong:
        problems.append(f"{len(wrong)} wrong results, e.g. {wrong[:5]}")
    if rss_at_100 is None:
        problems.append("never saw 100 results to take the RSS baseline")
    elif peak > rss_at_100 + 50:
        problems.append(f"daemon RSS grew from {rss_at_100:.1f} MiB to {peak:.1f} MiB")
    if fds_at_100 is not None and fds_end > fds_at_100 + 50:
        problems.append(f"daemon open files grew from {fds_at_100} to {fds_end}")
    for took, before, after, note in statuses:
        if note or took > 3:
            problems.append(f"status while {before} of {FLOOD} were done: {note or f'{took:.1f} s'}")
    if not any(before < FLOOD for _, before, _, _ in statuses):
        problems.append("no status call was made while the flood was being processed")
    problems += [f"daemon log: {line}" for line in log_problems(daemon)[:10]]
    note = stop_daemon(daemon)
    if note:
        problems.append(note)
    assert not problems, report + "\n" + "\n".join(problems) + "\n" + log_tail(daemon, 10)


@pytest.mark.timeout(90)
def test_open_files_stay_flat_while_jobs_run(spool, start_daemon):
    """A daemon that runs for hours must not run out of file descriptors: while two
    long jobs run (rescans every 0.2 s), its count of open files stays flat."""
    daemon = start_daemon()
    wait_ready(daemon)
    big = 10 ** 40
    for k in range(2):
        drop_job(spool, f"long-{k}.yaml", {"range": {"start": big, "stop": big + 60_000_000},
                                           "pool": {"chunksize": 20_000}})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "long-1 started" not in daemon.log():
        time.sleep(0.05)
    time.sleep(1.0)
    first = open_fds(daemon.pid)
    time.sleep(6.0)
    last = open_fds(daemon.pid)
    alive = daemon.alive()
    for k in range(2):
        run_cli(spool, "cancel", f"long-{k}")
    held = []
    try:
        for fd in os.listdir(f"/proc/{daemon.pid}/fd"):
            target = os.readlink(f"/proc/{daemon.pid}/fd/{fd}")
            if target.endswith("/lock"):
                held.append(target)
    except OSError:
        pass
    assert alive, log_tail(daemon)
    assert last - first <= 5, (f"the daemon's open files grew from {first} to {last} in 6 s "
                               f"with two jobs running; lock files held: {len(held)}, "
                               f"e.g. {sorted(set(held))[:3]}")
