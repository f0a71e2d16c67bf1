"""Spares (runner/spares.py): empty files and folders the daemon makes ahead, so that a
job's claim and its written files (spec, progress, result) make none on its path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import inotify_simple
import pytest

from conftest import drop_job, wait_for_result, wait_ready, wait_until
from runner.jobdir import lock
from runner.spares import STOCK, Spares


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "spares").mkdir()
    (tmp_path / "tmp").mkdir()
    return tmp_path / "spares", tmp_path / "tmp"


def stock_folder(parent: Path) -> Path:
    (folder,) = parent.iterdir()
    return folder


def test_a_stock_is_made_one_at_a_time_taken_and_made_again(places):
    parent, tmp = places
    spares = Spares(parent, tmp, stock=3)
    try:
        folder = stock_folder(parent)
        assert spares.take_file() is None and spares.take_folder() is None  # none made yet
        made = 0
        while spares.make_one():
            made += 1
            assert len(os.listdir(folder)) == made  # one at a time
        assert made == 6  # 3 folders, 3 files
        taken = spares.take_file()
        assert taken.parent == folder and taken.is_file() and taken.stat().st_size == 0
        empty = spares.take_folder()
        assert empty.parent == folder and empty.is_dir() and not os.listdir(empty)
        os.rename(taken, tmp / "written")  # as a write renames it into place
        os.rename(empty, tmp / "claimed")
        assert spares.make_one() and spares.make_one() and not spares.make_one()
        assert len(os.listdir(folder)) == 6
    finally:
        spares.close()
    assert not list(parent.iterdir()), "closing removes the stock left"


def test_a_disk_that_refuses_drops_the_stock_and_says_so_once(places, caplog):
    parent, tmp = places
    spares = Spares(parent, tmp, stock=1)
    assert spares.make_one()  # a folder
    shutil.rmtree(stock_folder(parent))  # where its spares go is gone, as a refusing disk
    try:
        assert not spares.make_one() and not spares.make_one()
        assert spares.take_file() is None and spares.take_folder() is None
        assert len([r for r in caplog.records if "cannot make spare" in r.getMessage()]) == 1
    finally:
        spares.close()


def test_a_stock_that_is_out_gives_none(places):
    spares = Spares(*places, stock=0)
    try:
        assert not spares.make_one()
        assert spares.take_file() is None and spares.take_folder() is None
    finally:
        spares.close()


def test_the_stock_of_a_gone_daemon_is_removed_and_a_live_one_kept(places):
    parent, tmp = places
    (parent / "gone").mkdir()  # no process holds it: its daemon died
    (parent / "gone" / "1").touch()
    (parent / "live").mkdir()
    held = lock(parent / "live")  # as a running daemon holds its own
    try:
        spares = Spares(parent, tmp, stock=1)
        spares.close()
        assert sorted(p.name for p in parent.iterdir()) == ["live"]
    finally:
        os.close(held)


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_a_job_on_a_daemon_makes_no_file_on_its_path(spool, start_daemon):
    daemon = start_daemon()
    wait_ready(daemon)
    wait_until(lambda: any(len(os.listdir(stock)) == 2 * STOCK
                           for stock in spool.spares_folder.iterdir()), 10,
               "the daemon's stock of spares")
    # without spares, the claim's folder and every file written whole (spec, progress,
    # result) are made in tmp/ first
    watch = inotify_simple.INotify()
    for folder in (spool.tmp, spool.claiming, spool.outbox):
        watch.add_watch(folder, inotify_simple.flags.CREATE)
    drop_job(spool, "a.yaml", {"id": "a", "numbers": [17977, 10619863, 6]})
    assert wait_for_result(spool, "a")["primes_found"] == 2
    assert [event.name for event in watch.read(timeout=0)] == []
    watch.close()
    umask = os.umask(0)
    os.umask(umask)
    assert (spool.outbox / "a.yaml").stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes
    assert daemon.stop() == 0
    assert not list(spool.spares_folder.iterdir()), "the daemon removed its stock"
