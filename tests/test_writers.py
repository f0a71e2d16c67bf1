"""A job file still being written is never taken, however long its writer pauses: real
slow writers and the tools people deliver files with, against a real daemon; and the
probe that asks the kernel, as root and as another user."""

from __future__ import annotations

import io
import os
import pwd
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from conftest import drop_job, run_cli, wait_for_result, wait_ready, wait_until, write_config
from runner import writers
from runner.spool import Spool
from runner.writers import Writers, probe_writers

pytestmark = pytest.mark.e2e  # it starts processes (see conftest.py)

PAUSE_SECONDS = 1.5  # longer than the rescan period (0.2 s in tests) and the old 1 s settle
PIECES = 4  # three pauses
# 40 KB: more than a tar record (10 KB: tar -x writes a record at a time), and about 4 s
# for rsync --bwlimit=10
NUMBERS = list(range(1_000_000, 1_004_000))


def _pieces() -> list[bytes]:
    """A job file in PIECES pieces; each prefix is a valid job file of fewer numbers."""
    lines = [f"- {n}\n" for n in NUMBERS]
    size = len(lines) // PIECES
    cuts = [0, *(size * k for k in range(1, PIECES)), len(lines)]
    pieces = ["".join(lines[a:b]) for a, b in zip(cuts, cuts[1:])]
    pieces[0] = "numbers:\n" + pieces[0]
    return [piece.encode() for piece in pieces]


# A writer that pauses between pieces, written as a shell pipeline or a Python script;
# {dest} is the job file's path in jobs/, {whole} and {whole_shm} the whole job file
# written beforehand outside the spool, on its filesystem and on tmpfs.
SLOW_PIECES = ("import sys, time\n"
               "pieces = {pieces!r}\n"
               "for n, piece in enumerate(pieces):\n"
               "    if n: time.sleep({pause})\n"
               "    sys.stdout.buffer.write(piece); sys.stdout.flush()\n")

WRITERS = {
    # a script that opens the file itself and pauses mid-file
    "script": "import time\n"
              "with open({dest!r}, 'wb') as out:\n"
              "    for n, piece in enumerate({pieces!r}):\n"
              "        if n: time.sleep({pause})\n"
              "        out.write(piece); out.flush()\n",
    # cp from a pipe whose writer pauses
    "cp": "SHELL: {python} -c {slow} | cp /dev/stdin {dest}",
    # tar -x from a stream that pauses inside the member's data
    "tar": "SHELL: {python} -c {slow_tar} | tar -x -C {jobs}",
    # rsync, throttled: it writes a hidden file and renames it whole
    "rsync": "SHELL: rsync --bwlimit=10 {whole} {dest}",
    # rsync --inplace, throttled: it makes the file empty and holds it open for seconds
    "rsync-inplace": "SHELL: rsync --inplace --bwlimit=10 {whole} {dest}",
    # mv from another filesystem (/dev/shm): a copy into place, then an unlink
    "mv": "SHELL: mv {whole_shm} {dest}",
    # scp-like: write a hidden name, pausing, then rename
    "rename": "import os, time\n"
              "hidden = os.path.join(os.path.dirname({dest!r}), '.rename.yaml.part')\n"
              "with open(hidden, 'wb') as out:\n"
              "    for n, piece in enumerate({pieces!r}):\n"
              "        if n: time.sleep({pause})\n"
              "        out.write(piece); out.flush()\n"
              "os.rename(hidden, {dest!r})\n",
}


def _slow_tar(name: str) -> str:
    """A script printing a tar of `name` (the whole job file) with pauses inside the data."""
    data = b"".join(_pieces())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        member = tarfile.TarInfo(name)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    raw = buffer.getvalue()
    cut = [0, *(512 + len(data) * k // PIECES for k in range(1, PIECES)), len(raw)]
    return SLOW_PIECES.format(pieces=[raw[a:b] for a, b in zip(cut, cut[1:])], pause=PAUSE_SECONDS)


def _start_writer(kind: str, spool, scratch: Path) -> subprocess.Popen:
    name = f"{kind}.yaml"
    whole = b"".join(_pieces())
    (scratch / "whole.yaml").write_bytes(whole)
    (scratch / "shm" / "whole.yaml").write_bytes(whole)
    fields = dict(dest=str(spool.jobs / name), jobs=str(spool.jobs), pieces=_pieces(),
                  pause=PAUSE_SECONDS, python=sys.executable, whole=str(scratch / "whole.yaml"),
                  whole_shm=str(scratch / "shm" / "whole.yaml"))
    template = WRITERS[kind]
    if not template.startswith("SHELL: "):
        return subprocess.Popen([sys.executable, "-c", template.format(**fields)])
    quote = lambda text: "'" + text.replace("'", "'\"'\"'") + "'"  # noqa: E731
    fields.update(slow=quote(SLOW_PIECES.format(pieces=_pieces(), pause=PAUSE_SECONDS)),
                  slow_tar=quote(_slow_tar(name)))
    return subprocess.Popen(["bash", "-c", template[len("SHELL: "):].format(**fields)])


@pytest.fixture
def shm_scratch(tmp_path):
    """A scratch folder, with `shm/` on another filesystem (tmpfs) than the spool's."""
    shm = Path("/dev/shm") / f"runner-test-{os.getpid()}-{tmp_path.name}"
    shm.mkdir()
    (tmp_path / "shm").symlink_to(shm)
    yield tmp_path
    shutil.rmtree(shm, ignore_errors=True)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_file_is_taken_whole_however_long_its_writer_pauses(spool, start_daemon, shm_scratch,
                                                             kind):
    if kind.startswith("rsync") and shutil.which("rsync") is None and not os.environ.get("CI"):
        pytest.skip("rsync is not installed here (.ci/run installs it)")
    daemon = start_daemon()
    wait_ready(daemon)
    writer = _start_writer(kind, spool, shm_scratch)
    assert writer.wait(30) == 0
    result = wait_for_result(spool, kind, timeout=20)
    assert result["state"] == "done", result
    assert result["numbers_tested"] == len(NUMBERS), (
        f"{kind}: the daemon took the file before its writer finished: "
        f"{result['numbers_tested']} of {len(NUMBERS)} numbers tested")


# -- a filesystem whose kernel does not see every writer -------------------------------

BINDFS = shutil.which("bindfs")


@pytest.fixture
def fuse_spool(tmp_path):
    """A spool on a FUSE filesystem (bindfs over a folder: what is written in that folder
    reaches the spool as from another machine, unseen by this kernel), and the spool's
    root as seen in that folder. FUSE grants leases whoever writes behind it; attributes
    are not cached, so that a change shows at once, as the settle rule needs."""
    if os.geteuid() != 0 or (BINDFS is None and not os.environ.get("CI")):
        pytest.skip("needs root and bindfs (.ci/run installs it) to mount a FUSE filesystem")
    under, over = tmp_path / "under", tmp_path / "over"
    under.mkdir()
    over.mkdir()
    subprocess.run([BINDFS, "-o", "attr_timeout=0,entry_timeout=0,negative_timeout=0",
                    str(under), str(over)], check=True, timeout=20)
    try:
        spool = Spool.create(over / "spool")
        write_config(spool.root)
        yield spool, under / "spool"
    finally:
        subprocess.run(["umount", "--lazy", str(over)], timeout=20)


@pytest.mark.timeout(60)
def test_on_a_fuse_filesystem_an_unseen_writer_gets_the_settle_rule(fuse_spool, start_daemon):
    """A writer behind the FUSE server, pausing less than the settle time: the lease
    would be granted (no writer this kernel knows of), but the daemon does not trust it
    there and waits for the file to stay unchanged for SETTLE_SECONDS."""
    spool, behind = fuse_spool
    daemon = start_daemon(on=spool)
    wait_ready(daemon)
    script = WRITERS["script"].format(dest=str(behind / "jobs" / "remote.yaml"),
                                      pieces=_pieces(), pause=0.4)
    assert subprocess.run([sys.executable, "-c", script], timeout=30).returncode == 0
    result = wait_for_result(spool, "remote", timeout=20)
    assert (result["state"], result["numbers_tested"]) == ("done", len(NUMBERS)), daemon.log()


@pytest.mark.timeout(60)
def test_on_a_fuse_filesystem_a_writer_on_this_machine_is_found_in_proc(fuse_spool,
                                                                       start_daemon):
    """A writer through the FUSE mount, pausing longer than the settle time: /proc shows
    it holding the file open for writing, so the daemon waits for it."""
    spool, _ = fuse_spool
    daemon = start_daemon(on=spool)
    wait_ready(daemon)
    script = WRITERS["script"].format(dest=str(spool.jobs / "local.yaml"), pieces=_pieces(),
                                      pause=PAUSE_SECONDS)
    assert subprocess.run([sys.executable, "-c", script], timeout=30).returncode == 0
    result = wait_for_result(spool, "local", timeout=20)
    assert (result["state"], result["numbers_tested"]) == ("done", len(NUMBERS)), daemon.log()


# A writer that opens a file another user made for it (root's hidden .NAME, writable by
# all), renames it into jobs/, then writes it, pausing.
RENAMED_THEN_WRITTEN = (
    "import os, time\n"
    "folder, name = os.path.split({dest!r})\n"
    "with open(os.path.join(folder, '.' + name), 'r+b') as out:\n"
    "    os.rename(os.path.join(folder, '.' + name), {dest!r})\n"
    "    for n, piece in enumerate({pieces!r}):\n"
    "        if n: time.sleep({pause})\n"
    "        out.write(piece); out.flush()\n")

SETPRIV = shutil.which("setpriv")
CAP_LEASE = 28


def _as_nobody() -> tuple[str, ...]:
    """A command prefix running a program as user nobody, with none of root's powers but
    CAP_DAC_READ_SEARCH: it reads this venv's Python wherever it lies (often under /root,
    which only root may enter); it gives no lease, nor a look at root's open files."""
    nobody = pwd.getpwnam("nobody")
    return (SETPRIV, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search")


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


@pytest.mark.timeout(60)
@pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                    reason="needs root and setpriv to run a daemon as user nobody")
def test_a_daemon_that_is_not_root_waits_for_the_writers_it_can_see(open_scratch, start_daemon):
    """A daemon run as nobody takes leases on nobody's files only: its own user's slow
    writer of its own file is seen by the lease, of a file root made by /proc; root's
    writers are hidden from it, and root's file written under a hidden name, then renamed
    (the README's advice there), is taken whole."""
    nobody = pwd.getpwnam("nobody")
    spool = Spool.create(open_scratch / "spool")  # pytest's tmp_path is root's alone
    write_config(spool.root)
    for path in [spool.root, *spool.root.rglob("*")]:
        os.lchown(path, nobody.pw_uid, nobody.pw_gid)
    made_by_root = spool.jobs / ".made-by-root.yaml"
    made_by_root.touch()
    made_by_root.chmod(0o666)
    daemon = start_daemon(on=spool, prefix=_as_nobody())
    wait_ready(daemon)
    status = _status(daemon.pid)
    assert status["Uid"].split()[1] == str(nobody.pw_uid)  # effective uid
    assert not int(status["CapEff"], 16) & (1 << CAP_LEASE)
    fields = dict(pieces=_pieces(), pause=PAUSE_SECONDS)
    writers = {
        "own": [*_as_nobody(), sys.executable, "-c", WRITERS["script"]],
        "made-by-root": [*_as_nobody(), sys.executable, "-c", RENAMED_THEN_WRITTEN],
        "root": [sys.executable, "-c", WRITERS["rename"]],
    }
    started = [subprocess.Popen(command[:-1] + [command[-1].format(
        dest=str(spool.jobs / f"{name}.yaml"), **fields)]) for name, command in writers.items()]
    assert [writer.wait(30) for writer in started] == [0, 0, 0]
    for name in writers:
        result = wait_for_result(spool, name, timeout=20)
        assert (name, result["state"], result["numbers_tested"]) == (name, "done", len(NUMBERS)), (
            daemon.log())


# -- the probe itself ------------------------------------------------------------------

HOLD_OPEN = textwrap.dedent("""\
    import sys
    handle = open(sys.argv[1], sys.argv[2])
    print("open", flush=True)
    sys.stdin.read()
""")


def _holder(path: Path, mode: str, user: str | None = None) -> subprocess.Popen:
    """A process holding `path` open in `mode` until its stdin closes."""
    holder = subprocess.Popen([OTHER_USERS_PYTHON if user else sys.executable, "-c", HOLD_OPEN, str(path), mode],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              user=user)
    assert holder.stdout.readline().strip() == "open"
    return holder


def _release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(10)


@pytest.mark.timeout(30)
def test_probe_sees_a_writer_of_any_process_and_not_a_reader(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("numbers: [2]\n")
    assert probe_writers(path) is Writers.NONE
    reader = _holder(path, "rb")
    assert probe_writers(path) is Writers.NONE
    writer = _holder(path, "ab")
    try:
        assert probe_writers(path) is Writers.WRITING
    finally:
        _release(writer)
        _release(reader)
    assert probe_writers(path) is Writers.NONE
    assert probe_writers(tmp_path / "gone.yaml") is Writers.NONE


# Probes a file for `seconds` while another process opens it for writing again and again,
# so that some opens break the probe's lease; prints how many breaks it was told of when
# asked to count them (a handler for the lease-break signal), else keeps every signal's
# default, as the daemon does.
PROBE_WHILE_OPENED = textwrap.dedent("""\
    import signal, subprocess, sys, time
    from pathlib import Path
    from runner.writers import LEASE_BREAK_SIGNAL, probe_writers
    path, seconds, count = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "count"
    breaks = 0
    def heard(signum, frame):
        global breaks
        breaks += 1
    if count:
        signal.signal(LEASE_BREAK_SIGNAL, heard)
    opener = subprocess.Popen([sys.executable, "-c", f'''if True:
        import time
        end = time.monotonic() + {seconds}
        while time.monotonic() < end:
            open({str(path)!r}, "ab").close()'''])
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        probe_writers(path)
    opener.wait()
    print(breaks)
""")


@pytest.mark.timeout(30)
def test_a_writer_breaking_the_probes_lease_never_kills_the_prober(tmp_path):
    """A writer opening the file while the probe holds its lease breaks it, and the kernel
    signals the prober (by default with SIGIO, which would kill the daemon)."""
    path = tmp_path / "job.yaml"
    path.write_text("numbers: [2]\n")
    probe = lambda how: subprocess.run(  # noqa: E731
        [sys.executable, "-c", PROBE_WHILE_OPENED, str(path), "1.5", how],
        capture_output=True, text=True, timeout=20)
    counted = probe("count")
    assert counted.returncode == 0, counted.stderr
    assert int(counted.stdout) > 0, "no open broke a lease: this test proves nothing here"
    untouched = probe("default")
    assert untouched.returncode == 0, (untouched.returncode, untouched.stderr)


@pytest.fixture
def open_scratch():
    """A folder every user may write (pytest's own tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="runner-test-"))
    os.chmod(folder, 0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# The probe needs the standard library alone: another user runs a copy of its modules
# with a Python it may execute (this venv may sit in root's home).
OTHER_USERS_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin")
PROBE_AS_USER = ("import sys\n"
                 "sys.path.insert(0, sys.argv[1])\n"
                 "from runner.writers import probe_writers\n"
                 "print(probe_writers(sys.argv[2]).value)\n")


PROBE_HERE = ("import sys\n"
              "from runner.writers import probe_writers\n"
              "print(probe_writers(sys.argv[1]).value)\n")


def _probe_as(user: str, path: Path) -> str:
    """What probe_writers says of `path` run by `user`, from a copy of the modules it
    needs (this venv may lie where `user` cannot read), under the system's Python."""
    copy = path.parent / "probe-copy"
    if not copy.exists():
        package = Path(writers.__file__).parent
        (copy / "runner").mkdir(parents=True)
        for name in ("__init__.py", "writers.py", "safe_open.py"):
            shutil.copy(package / name, copy / "runner" / name)
        for folder in (copy, copy / "runner"):
            os.chmod(folder, 0o755)
    out = subprocess.run([OTHER_USERS_PYTHON, "-c", PROBE_AS_USER, str(copy), str(path)],
                         user=user, capture_output=True, text=True, timeout=20, cwd="/")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.timeout(60)
@pytest.mark.skipif(os.geteuid() != 0 or OTHER_USERS_PYTHON is None,
                    reason="needs root to act as two users, and a system python3")
def test_probe_by_another_user(open_scratch):
    """A daemon that is not root may take no lease on another user's file: it then looks
    in /proc, where it sees its own user's writers and says it cannot know of others'."""
    nobody = pwd.getpwnam("nobody")
    path = open_scratch / "job.yaml"
    path.write_text("numbers: [2]\n")
    os.chmod(path, 0o666)  # root's file, writable by anyone
    assert _probe_as("nobody", path) == "unknown"  # root's processes are hidden from it
    writer = _holder(path, "ab", user="nobody")
    try:
        assert _probe_as("nobody", path) == "writing"  # found in /proc
        assert probe_writers(path) is Writers.WRITING  # root: the lease
    finally:
        _release(writer)
    writer = _holder(path, "ab")  # root writes: a non-root daemon cannot see that
    try:
        assert _probe_as("nobody", path) == "unknown"
        if SETPRIV is not None:  # nor one that may list root's open files, not look at them
            assert subprocess.run(
                [*_as_nobody(), sys.executable, "-c", PROBE_HERE, str(path)], capture_output=True,
                text=True, timeout=20, cwd="/").stdout.strip() == "unknown"
    finally:
        _release(writer)
    os.chown(path, nobody.pw_uid, nobody.pw_gid)  # its own file: the lease answers
    writer = _holder(path, "ab")
    try:
        assert _probe_as("nobody", path) == "writing"
    finally:
        _release(writer)


UNSHARE = shutil.which("unshare")


@pytest.mark.timeout(60)
@pytest.mark.skipif(os.geteuid() != 0 or None in (SETPRIV, UNSHARE, OTHER_USERS_PYTHON),
                    reason="needs root, setpriv and unshare to probe from a PID namespace")
def test_probe_in_a_container_does_not_trust_its_own_proc(open_scratch):
    """Root without CAP_LEASE (as in a default Docker container), in a PID namespace of
    its own: a writer outside it, of another user's file, is in no /proc it can read; the
    probe says it cannot know, not that the file is whole."""
    path = open_scratch / "job.yaml"
    path.write_text("numbers: [2]\n")
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    writer = _holder(path, "ab", user="nobody")
    try:
        probe = subprocess.run(
            [UNSHARE, "--pid", "--fork", "--mount-proc", SETPRIV, "--inh-caps=-lease",
             "--bounding-set=-lease", sys.executable, "-c", PROBE_HERE, str(path)],
            capture_output=True, text=True, timeout=20)
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.strip() == "unknown"
    finally:
        _release(writer)


@pytest.mark.timeout(60)
def test_a_file_over_the_queue_limit_is_refused_once_its_writer_is_done(spool, start_daemon,
                                                                       shm_scratch):
    """Past limits.queued_jobs a job fails at once; one still being written fails once
    whole, not under its writer (who would write on into a failed job)."""
    write_config(spool.root, limits={"queued_jobs": 1}, max_running_jobs=1)
    daemon = start_daemon()
    wait_ready(daemon)
    start = 2 ** 2000
    # the blocker holds the one job slot until it is cancelled (50,000 such numbers took
    # 4.4 s, less than the writer's pauses: the queue emptied before the script was whole)
    drop_job(spool, "blocker.yaml", {"id": "blocker", "range": {"start": start,
                                                                 "stop": start + 2_000_000}})
    wait_until(lambda: (spool.jobs / "blocker.yaml").exists() is False, 10, "the blocker claimed")
    drop_job(spool, "first.yaml", {"id": "first", "numbers": [7]})  # queued, within the limit
    writer = _start_writer("script", spool, shm_scratch)
    assert writer.wait(30) == 0
    written = time.time()
    result = wait_for_result(spool, "script", timeout=20)
    assert result["state"] == "failed" and "limits.queued_jobs = 1" in result["error"]["message"]
    assert spool.result_path("script").stat().st_mtime > written - 0.5, (
        "refused while its writer was still writing")
    assert run_cli(spool, "cancel", "blocker").returncode == 0
    assert wait_for_result(spool, "first")["state"] == "done"
