"""Opening a file that anyone may have dropped into the spool: never through a symlink,
never waiting on a FIFO or a device, and only a regular file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Union


class NotARegularFile(OSError):
    """The path names a FIFO, a device, a socket or a folder, not a regular file."""


def open_regular(path: Union[Path, str]) -> tuple[int, os.stat_result]:
    """A file descriptor open for reading on the regular file at `path`, and its stat;
    the caller closes it. OSError if it cannot be opened (errno ELOOP: `path` is a
    symlink, which is not followed); NotARegularFile (an OSError) if it is no regular
    file. Neither case blocks: a FIFO is opened without waiting for a writer."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotARegularFile(errno.EINVAL, "not a regular file", str(path))
    return fd, info
