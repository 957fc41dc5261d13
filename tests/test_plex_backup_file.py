"""The backup copied by the kernel when Plex's WAL is empty (daemon/plex/backup_file.py, issue
16), and what it rests on: SQLite keeps the database file still for a reader whose snapshot
began on an empty WAL. With frames in the WAL the backup goes through SQLite's backup API."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from daemon.errors import PlexWriteError
from daemon.plex import backup
from daemon.plex.backup import backup_database
from daemon.plex.backup_file import copy_still_file, wal_is_empty
from tests.fakes.plex_db import PlexDb, build_plex_db
from tests.fakes.plex_library_gen import generate_library


@pytest.fixture
def db(tmp_path: Path) -> PlexDb:
    return build_plex_db(tmp_path / "plex" / "com.plexapp.plugins.library.db",
                         generate_library(200, seed=11))


def _add_history(conn: sqlite3.Connection, n: int, viewed_at: int = 1_700_000_000) -> None:
    conn.executemany("INSERT INTO metadata_item_views (account_id, guid, metadata_type, "
                     "viewed_at) VALUES (1, ?, 10, ?)",
                     ((f"plex://track/test-{i}", viewed_at + i) for i in range(n)))


def _value(path: Path, sql: str) -> int:
    """One number read from the file alone (no -wal), without locks."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _history(path: Path) -> int:
    return _value(path, "SELECT count(*) FROM metadata_item_views")


def _page_bytes(path: Path) -> bytes:
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return path.read_bytes()[: pages * size]


@contextmanager
def _kernel_copies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the bytes ``os.copy_file_range`` copied (with ``O_DIRECT`` taken away: the copy
    is the cached one, as on a file system that refuses it; tests/test_plex_direct_copy.py)."""
    _cached_only(monkeypatch)
    copied: list[int] = []
    real = os.copy_file_range

    def spy(src: int, dst: int, count: int, *args: int) -> int:
        got = real(src, dst, count, *args)
        copied.append(got)
        return got

    monkeypatch.setattr(os, "copy_file_range", spy)
    yield copied


def _cached_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "O_DIRECT", raising=False)


def test_sqlite_keeps_the_file_still_for_a_reader_that_began_on_an_empty_wal(
        db: PlexDb) -> None:
    assert wal_is_empty(db.path)
    before = db.path.read_bytes()
    with closing(sqlite3.connect(db.path, isolation_level=None)) as reader, \
            closing(sqlite3.connect(db.path, isolation_level=None)) as writer:
        reader.execute("BEGIN")
        seen = reader.execute("SELECT count(*) FROM metadata_item_views").fetchone()[0]
        _add_history(writer, 500)
        _, frames, backfilled = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames > 0
        assert backfilled == 0
        assert db.path.read_bytes() == before, "a checkpoint wrote under the reader"
        assert not wal_is_empty(db.path)
        assert reader.execute("SELECT count(*) FROM metadata_item_views").fetchone()[0] == seen
        reader.execute("COMMIT")
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert db.path.read_bytes() != before  # once the reader is gone, the checkpoint writes


def test_with_an_empty_wal_the_backup_is_the_file_copied_by_the_kernel(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _kernel_copies(monkeypatch) as copied:
        made = backup_database(db.path, tmp_path / "backups", keep=2, busy_timeout_ms=2000)
    assert sum(copied) == len(_page_bytes(db.path)) > 0
    assert made.read_bytes() == _page_bytes(db.path)
    assert _history(made) == _history(db.path)


def test_commits_during_the_kernel_copy_are_not_in_the_backup(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plex writing while a stand-alone backup copies: its commits stay in the WAL."""
    _cached_only(monkeypatch)
    monkeypatch.setattr(backup, "WRITEBACK_PAGES", 4)
    snapshot = _page_bytes(db.path)
    history = _history(db.path)
    real = os.copy_file_range
    calls = 0

    def copy_while_plex_writes(src: int, dst: int, count: int, *args: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            with closing(sqlite3.connect(db.path, isolation_level=None)) as plex:
                _add_history(plex, 300)
                plex.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return real(src, dst, count, *args)

    monkeypatch.setattr(os, "copy_file_range", copy_while_plex_writes)
    made = backup_database(db.path, tmp_path / "backups", keep=2, busy_timeout_ms=2000)
    assert calls > 2
    assert made.read_bytes() == snapshot
    assert _history(made) == history
    with closing(sqlite3.connect(db.path)) as conn:
        assert conn.execute("SELECT count(*) FROM metadata_item_views").fetchone()[0] \
            == history + 300


def _viewed_sum(path: Path) -> int:
    return _value(path, "SELECT total(viewed_at) FROM metadata_item_views")


def test_with_frames_in_the_wal_the_backup_goes_through_sqlite(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with closing(sqlite3.connect(db.path, isolation_level=None)) as plex:
        _add_history(plex, 400)
        plex.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        plex.execute("PRAGMA wal_autocheckpoint = 0")
        # committed, only in the -wal while Plex keeps it open; the file keeps its length
        plex.execute("UPDATE metadata_item_views SET viewed_at = viewed_at + 7")
        assert not wal_is_empty(db.path)
        live = plex.execute("SELECT total(viewed_at) FROM metadata_item_views").fetchone()[0]
        assert live != _viewed_sum(db.path)  # the file alone is stale
        with _kernel_copies(monkeypatch) as copied:
            made = backup_database(db.path, tmp_path / "backups", keep=2,
                                   busy_timeout_ms=2000)
        assert copied == []
    assert _viewed_sum(made) == live


@pytest.mark.parametrize("unsupported", ["EXDEV", "missing"])
def test_without_a_kernel_copy_the_bytes_are_copied_through_a_buffer(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unsupported: str) -> None:
    _cached_only(monkeypatch)
    if unsupported == "missing":
        monkeypatch.delattr(os, "copy_file_range")
    else:
        def cross_device(*_args: int) -> int:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", cross_device)
    monkeypatch.setattr(backup, "WRITEBACK_PAGES", 16)
    made = backup_database(db.path, tmp_path / "backups", keep=2, busy_timeout_ms=2000)
    assert made.read_bytes() == _page_bytes(db.path)


def test_a_failed_kernel_copy_fails_the_backup_and_leaves_nothing(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_args: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    _cached_only(monkeypatch)
    monkeypatch.setattr(os, "copy_file_range", full)
    with pytest.raises(PlexWriteError, match=r"could not be written: .*No space left"):
        backup_database(db.path, tmp_path / "backups", keep=2, busy_timeout_ms=2000)
    assert list((tmp_path / "backups").iterdir()) == []


def test_a_file_shorter_than_its_pages_is_left_to_sqlite(tmp_path: Path) -> None:
    """(SQLite's page count beyond the file's end: the kernel copy declines, copies nothing.)"""
    source = tmp_path / "short.db"
    source.write_bytes(b"x" * 4096)  # (copied around the page cache where it can be)
    dest = tmp_path / "copy.db"
    assert not copy_still_file(source, dest, length=8192, step=4096)
    assert not dest.exists()
    assert copy_still_file(source, dest, length=4096, step=1024)
    assert dest.read_bytes() == source.read_bytes()


def test_a_failed_flush_through_sqlite_fails_the_backup_and_leaves_nothing(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(The writeback tests run the kernel copy; this is the backup API's flush.)"""
    def broken(_fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with closing(sqlite3.connect(db.path, isolation_level=None)) as plex:
        plex.execute("PRAGMA wal_autocheckpoint = 0")
        _add_history(plex, 50)  # frames in the WAL: the backup API copies
        monkeypatch.setattr(os, "fdatasync", broken)
        with pytest.raises(PlexWriteError, match=r"could not be written: .*Input/output error"):
            backup_database(db.path, tmp_path / "backups", keep=2, busy_timeout_ms=2000)
    assert list((tmp_path / "backups").iterdir()) == []
