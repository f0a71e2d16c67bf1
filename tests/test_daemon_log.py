"""The daemon's own log file: rotated once it reaches its size, never when it is no
regular file."""

from __future__ import annotations

import logging

from runner.daemon_log import _RotatingLog


def log_through(handler: logging.Handler, lines: int) -> None:
    logger = logging.getLogger(f"test_daemon_log.{id(handler)}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for k in range(lines):
            logger.warning("line %d %s", k, "x" * 40)
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_the_file_is_rotated_once_it_reaches_its_size_keeping_its_backups(tmp_path):
    log_through(_RotatingLog(tmp_path / "daemon.log", maxBytes=1000, backupCount=2), 100)
    sizes = {path.name: path.stat().st_size for path in tmp_path.iterdir()}
    assert set(sizes) == {"daemon.log", "daemon.log.1", "daemon.log.2"}
    assert all(size < 1000 + 100 for size in sizes.values()), sizes  # at most a line over
    assert "line 99 " in (tmp_path / "daemon.log").read_text()


def test_a_log_that_is_no_regular_file_is_never_rotated(tmp_path):
    (tmp_path / "daemon.log").symlink_to("/dev/null")
    log_through(_RotatingLog(tmp_path / "daemon.log", maxBytes=10, backupCount=2), 5)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["daemon.log"]
