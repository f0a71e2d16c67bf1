"""Whether some process still holds a file open for writing, whoever it is.

On a local filesystem the kernel counts the writers of each inode, and Linux
refuses a read lease (`fcntl(F_SETLEASE, F_RDLCK)`) on a file that any process
has open for writing. The probe takes such a lease and drops it at once, a few
microseconds. A lease may be taken only by the file's owner or a process with
CAP_LEASE (root); for a file of another user, the open files listed in /proc are
searched instead, which finds the writers this process may look at.

On any other filesystem (NFS, SMB, FUSE, 9p...) a writer may be on another
machine, or behind a FUSE server, where no kernel count or /proc of this machine
sees it; such filesystems grant or refuse leases by their own rules (FUSE grants
one while a remote writer writes; NFSv4 and SMB refuse one without a delegation,
writer or not). There a writer found in /proc is sure, and none found tells
nothing. Where the probe cannot tell, it says `UNKNOWN`, and the caller must fall
back on other signs.

A writer that opens the file while the probe holds its lease breaks the lease:
its open waits until the lease is dropped (microseconds later), and the kernel
signals the prober. The probe asks for LEASE_BREAK_SIGNAL, which does nothing
unless handled, instead of the default SIGIO, which kills: so no signal
disposition of the daemon changes, and none is inherited by its workers.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import fcntl
import os
import signal
from pathlib import Path
from typing import Optional

from .safe_open import open_regular


# What a lease break sends the prober: a signal that does nothing unless handled, and that
# any process must bear anyway (a terminal sends it when resized).
LEASE_BREAK_SIGNAL = signal.SIGWINCH


# Filesystems whose kernel here sees every writer of their files (statfs f_type, from
# linux/magic.h): ext2/3/4, XFS, Btrfs, tmpfs, ramfs, F2FS, overlayfs, ZFS, bcachefs.
LOCAL_FILESYSTEMS = frozenset({0xEF53, 0x58465342, 0x9123683E, 0x01021994, 0x858458F6,
                               0xF2F52010, 0x794C7630, 0x2FC12FC1, 0xCA451A4E})

# The inode of /proc/self/ns/pid in the first PID namespace (PROC_PID_INIT_INO). In any
# other (a container), /proc lists only that namespace's processes, not a writer in
# another container or on the host.
INITIAL_PID_NAMESPACE_INODE = 0xEFFFFFFC

_fstatfs = ctypes.CDLL(None, use_errno=True).fstatfs
_fstatfs.argtypes = (ctypes.c_int, ctypes.c_void_p)
_StatFs = ctypes.c_ulong * 32  # struct statfs (120 bytes on 64-bit Linux), f_type first


class Writers(enum.Enum):
    """What the probe learnt of a file's writers."""

    NONE = "none"          # no process holds it open for writing: it is whole
    WRITING = "writing"    # some process holds it open for writing
    UNKNOWN = "unknown"    # the probe cannot tell (see the module's docstring)


def probe_writers(path: Path) -> Writers:
    """Whether any process holds `path` open for writing. Never follows a symlink nor
    waits on a FIFO; a file that is gone, or is no regular file, has no writers (the
    claim and the validation deal with it)."""
    try:
        fd, info = open_regular(path)
    except OSError:  # gone, a symlink, or no regular file (NotARegularFile)
        return Writers.NONE
    try:
        if _filesystem_type(fd) not in LOCAL_FILESYSTEMS:
            found = _writers_in_proc(info.st_dev, info.st_ino)
            return Writers.WRITING if found is Writers.WRITING else Writers.UNKNOWN
        try:
            fcntl.fcntl(fd, fcntl.F_SETSIG, LEASE_BREAK_SIGNAL)
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError as error:
            if error.errno == errno.EAGAIN:
                return Writers.WRITING
            if error.errno in (errno.EACCES, errno.EPERM):  # another user's file
                return _writers_in_proc(info.st_dev, info.st_ino)
            return Writers.UNKNOWN  # leases refused here (EINVAL: leases disabled, ...)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return Writers.NONE
    finally:
        os.close(fd)


def _filesystem_type(fd: int) -> Optional[int]:
    """The statfs f_type of the filesystem holding `fd` (None if statfs fails)."""
    buffer = _StatFs()
    if _fstatfs(fd, buffer) != 0:
        return None
    return buffer[0] & 0xFFFFFFFF


def _writers_in_proc(device: int, inode: int) -> Writers:
    """Search every process's open files for a write descriptor of (device, inode):
    WRITING if one is found, NONE if every process could be searched, else UNKNOWN."""
    hidden = not _sees_every_process()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            found = _writers_in_process(pid, device, inode)
            if found is Writers.WRITING:
                return found
            hidden = hidden or found is Writers.UNKNOWN
    return Writers.UNKNOWN if hidden else Writers.NONE


def _sees_every_process() -> bool:
    """Whether /proc lists every process of this machine (the first PID namespace)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino == INITIAL_PID_NAMESPACE_INODE
    except OSError:
        return False


def _writers_in_process(pid: str, device: int, inode: int) -> Writers:
    """Whether process `pid` holds (device, inode) open for writing: UNKNOWN if any of
    its open files may not be looked at (another user's process; a listing of them may
    be allowed where what they are is not), NONE if it ended meanwhile."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                info = os.stat(f"/proc/{pid}/fd/{fd}")
                if (info.st_dev, info.st_ino) == (device, inode) and \
                        _opened_for_writing(f"/proc/{pid}/fdinfo/{fd}"):
                    return Writers.WRITING
            except FileNotFoundError:  # closed meanwhile
                continue
    except FileNotFoundError:  # the process ended meanwhile
        return Writers.NONE
    except OSError:
        return Writers.UNKNOWN
    return Writers.NONE


def _opened_for_writing(fdinfo: str) -> bool:
    """Whether the open file that `fdinfo` (/proc/PID/fdinfo/FD) describes may write."""
    with open(fdinfo, encoding="ascii") as lines:
        for line in lines:
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    raise OSError(errno.EIO, "no flags: line", fdinfo)
