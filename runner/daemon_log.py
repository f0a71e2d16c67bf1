"""The daemon's own log: stderr, and jobs/.state/daemon.log in the spool, rotated.

Each component logs as `runner.<module>`. Every daemon serving a spool appends to its one
daemon.log (each line says its process); the daemon logs twice a job, so writing a line
costs what writing it takes, and no more (see `_RotatingLog`).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
import sys
from typing import Optional

from .spool import Spool

log = logging.getLogger("runner.daemon")

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
FILE_LOG_FORMAT = "%(asctime)s [%(process)d] %(name)s %(levelname)s %(message)s"
LOG_FILE_MAX_BYTES = 5 << 20
LOG_FILE_BACKUPS = 2


class _RotatingLog(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler that rotates once the file it writes has reached maxBytes,
    asking the file its size (one fstat): the standard one formats each record a second
    time and looks the path up twice to decide, for every line (about 20 us a line)."""

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if self.stream is None:
            self.stream = self._open()
        info = os.fstat(self.stream.fileno())  # each line is flushed: the size is the file's
        return stat.S_ISREG(info.st_mode) and info.st_size >= self.maxBytes


def configure_logging(spool: Spool, verbose: bool = False) -> None:
    """Send the runner's logs to stderr and to the spool's daemon.log, rotated past
    LOG_FILE_MAX_BYTES (keeping LOG_FILE_BACKUPS older files); each component logs
    as `runner.<module>`. If daemon.log cannot be opened, stderr alone, saying why."""
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter(LOG_FORMAT))
    handlers: list[logging.Handler] = [stderr]
    try:
        to_file = _RotatingLog(spool.daemon_log, maxBytes=LOG_FILE_MAX_BYTES,
                               backupCount=LOG_FILE_BACKUPS, encoding="utf-8")
    except OSError as error:
        file_error: Optional[OSError] = error
    else:
        file_error = None
        to_file.setFormatter(logging.Formatter(FILE_LOG_FORMAT))
        handlers.append(to_file)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=handlers)
    if file_error is not None:
        log.warning("logging to stderr only: cannot open %s (%s)", spool.daemon_log, file_error)
