"""The backup flushed to disk while it is copied (daemon/plex/writeback.py, issue 16): the copy
is made in steps, each followed by a flush on a second thread; a flush that fails fails the
backup (its data may not be on disk), and so the write it was taken for."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from daemon.errors import PlexWriteError
from daemon.plex import backup
from daemon.plex.backup import backup_database
from daemon.plex.backup_rotation import list_backups
from daemon.plex.writeback import Writeback
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter
from tests.fakes.plex_db import PlexDb, build_plex_db
from tests.fakes.plex_library_gen import generate_library
from tests.test_plex_backup_file import _cached_only

NOW = 1_760_000_000


@pytest.fixture(autouse=True)
def cached_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy through the page cache, as where O_DIRECT is refused: the copy written around
    it needs no flush until its fsync (tests/test_plex_direct_copy.py)."""
    _cached_only(monkeypatch)


@pytest.fixture
def db(tmp_path: Path) -> PlexDb:
    return build_plex_db(tmp_path / "plex" / "com.plexapp.plugins.library.db",
                         generate_library(200, seed=7))


def _pages(path: Path) -> int:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()


def test_the_backup_is_flushed_while_it_is_copied(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup, "WRITEBACK_PAGES", 8)
    sizes: list[int] = []
    real, real_copy = os.fdatasync, os.copy_file_range
    flushed = threading.Event()
    steps = 0

    def fdatasync(fd: int) -> None:
        sizes.append(os.fstat(fd).st_size)
        real(fd)
        flushed.set()

    def copy_file_range(*args: int) -> int:
        nonlocal steps
        steps += 1
        if steps == 3:  # (the copy outruns the flushing thread on a busy machine: the third
            # step waits for the flush the first two kicked, so the test does not race it)
            assert flushed.wait(10), "no flush after two steps"
        return real_copy(*args)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "copy_file_range", copy_file_range)
    made = backup_database(db.path, tmp_path / "backups", keep=2, busy_timeout_ms=2000)
    assert list_backups(tmp_path / "backups") == [made]
    pages = _pages(db.path)
    assert pages > 8 * 4
    assert _pages(made) == pages
    assert len(sizes) >= 2, "not flushed during the copy"
    assert min(sizes) < made.stat().st_size  # a flush came before the copy was complete


def test_a_failed_flush_fails_the_backup_and_leaves_nothing(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    with pytest.raises(PlexWriteError, match=r"could not be written: .*Input/output error"):
        backup_database(db.path, tmp_path / "backups", keep=2, busy_timeout_ms=2000)
    assert list((tmp_path / "backups").iterdir()) == []


def test_a_write_whose_backup_cannot_be_flushed_writes_nothing(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = db.path.read_bytes()  # (checkpointed: the whole state is in the file)

    def broken(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdatasync", broken)
    track = db.library.tracks[0].id
    with pytest.raises(PlexWriteError, match="No space left"):
        PlexDatabaseWriter(db.path, clock=lambda: NOW).apply(
            [PlayToWrite(1, track, NOW - 60)], [], backup_dir=tmp_path / "backups")
    conn = sqlite3.connect(db.path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    assert db.path.read_bytes() == before


def test_kicks_while_a_flush_runs_queue_one_more(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"x")
    running, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow(fd: int) -> None:
        calls.append(fd)
        running.set()
        assert release.wait(10)

    monkeypatch.setattr(os, "fdatasync", slow)
    flusher = Writeback(file)
    flusher.kick()
    assert running.wait(10)
    for _ in range(5):
        flusher.kick()  # while the first runs: one more flush, not five
    release.set()
    assert flusher.close() is None
    assert len(calls) in (2, 3)  # the first, one queued (or merged with) close's, close's
