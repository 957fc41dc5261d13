"""The backup of Plex's database taken beside the write (WAL databases, issue 16).

The apply's backup is the state its write starts from, durable before the write commits. In
WAL mode (Plex's own mode) a second connection reads the last committed state while the write
transaction is open, so the copy runs on a thread while the rows go in, and the COMMIT waits
for it. These tests hold the backup back until every row of the write is in (uncommitted):
with a backup taken before the write they fail by their deadline.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import PlexWriteError
from daemon.plex import playcounts, writer
from daemon.plex.backup import open_plex_db
from daemon.plex.backup_rotation import list_backups
from daemon.plex.writer import PlayToRemove, PlayToWrite, PlexDatabaseWriter
from tests.fakes.plex_db import NativePlays, PlexDb, build_plex_db
from tests.fakes.plex_library_gen import Library, generate_library

NOW = 1_760_000_000
DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(120, seed=11)


@pytest.fixture
def db(tmp_path: Path, library: Library) -> PlexDb:
    return build_plex_db(tmp_path / "plex" / "com.plexapp.plugins.library.db", library,
                         native_plays=NativePlays(fraction=0.3))


def _tracks(db: PlexDb, n: int) -> list[int]:
    return [t.id for t in db.library.tracks if t.deleted_at is None][:n]


def _count(path: Path, sql: str = "SELECT count(*) FROM metadata_item_views") -> int:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _table(path: Path, table: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
    finally:
        conn.close()


class _HeldBackup:
    """Wraps the real backup: it starts only once the write has put every row in (the
    settings recomputed), and records what a reader of Plex's database saw meanwhile."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, db: PlexDb,
                 fail: Exception | None = None) -> None:
        self.written = threading.Event()
        self.db, self.fail = db, fail
        self.seen_during: int | None = None
        real_backup: Callable[..., Path] = writer.backup_database
        real_settings = playcounts.PlayWrite.update_settings

        def settings(job: playcounts.PlayWrite) -> int:
            touched = real_settings(job)
            self.written.set()
            return touched

        def backup(*args: Any, **kwargs: Any) -> Path:
            if not self.written.wait(DEADLINE_S):
                raise AssertionError("the backup was taken before the write went in")
            self.seen_during = _count(self.db.path)  # committed state, read meanwhile
            if self.fail is not None:
                raise self.fail
            return real_backup(*args, **kwargs)

        monkeypatch.setattr(playcounts.PlayWrite, "update_settings", settings)
        monkeypatch.setattr(writer, "backup_database", backup)


def test_the_backup_runs_beside_the_write_and_holds_the_state_before_it(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before_views, before_settings = (_table(db.path, t) for t in (
        "metadata_item_views", "metadata_item_settings"))
    held = _HeldBackup(monkeypatch, db)
    keys = _tracks(db, 30)
    result = PlexDatabaseWriter(db.path).apply(
        [PlayToWrite(i, key, NOW - i * 600) for i, key in enumerate(keys, 1)], [],
        backup_dir=tmp_path / "backups")
    assert held.seen_during == len(before_views)  # not committed while the copy ran
    assert result.backup is not None
    assert list_backups(tmp_path / "backups") == [result.backup]
    assert _table(result.backup, "metadata_item_views") == before_views
    assert _table(result.backup, "metadata_item_settings") == before_settings
    assert _count(db.path) == len(before_views) + len(keys)


def test_a_failed_backup_beside_the_write_rolls_everything_back(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = PlexDatabaseWriter(db.path).apply(
        [PlayToWrite(1, _tracks(db, 1)[0], NOW - 5000)], [], backup_dir=None)
    before = {t: _table(db.path, t) for t in ("metadata_item_views", "metadata_item_settings")}
    _HeldBackup(monkeypatch, db, fail=PlexWriteError("backup copy does not match"))
    ours = PlayToRemove(first.inserted[1], first.guids[_tracks(db, 1)[0]], NOW - 5000)
    with pytest.raises(PlexWriteError, match="backup copy does not match"):
        PlexDatabaseWriter(db.path).apply(
            [PlayToWrite(i, key, NOW - i) for i, key in enumerate(_tracks(db, 20), 2)], [ours],
            backup_dir=tmp_path / "backups")
    assert {t: _table(db.path, t) for t in before} == before
    assert list_backups(tmp_path / "backups") == []


def test_a_database_not_in_wal_mode_is_backed_up_before_the_write(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(db.path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    before = _table(db.path, "metadata_item_views")
    order: list[str] = []
    real_backup: Callable[..., Path] = writer.backup_database
    real_remove = playcounts.PlayWrite.remove

    def backup(*args: Any, **kwargs: Any) -> Path:
        order.append("backup")
        return real_backup(*args, **kwargs)

    def remove(job: playcounts.PlayWrite, rows: Any) -> list[int]:
        order.append("write")
        return real_remove(job, rows)

    monkeypatch.setattr(writer, "backup_database", backup)
    monkeypatch.setattr(playcounts.PlayWrite, "remove", remove)
    result = PlexDatabaseWriter(db.path).apply(
        [PlayToWrite(1, _tracks(db, 1)[0], NOW)], [], backup_dir=tmp_path / "backups")
    assert order == ["backup", "write"]
    assert result.backup is not None
    assert _table(result.backup, "metadata_item_views") == before
    assert _count(db.path) == len(before) + 1


def test_the_write_connection_may_read_the_journal_mode_but_not_set_it(db: PlexDb) -> None:
    conn = open_plex_db(db.path, busy_timeout_ms=100, writable=("metadata_item_views",))
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()


def test_a_write_that_fails_beside_the_backup_reports_its_own_error(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _table(db.path, "metadata_item_views")
    held = _HeldBackup(monkeypatch, db, fail=PlexWriteError("the backup's error"))
    real_settings = playcounts.PlayWrite.update_settings

    def broken(job: playcounts.PlayWrite) -> int:
        real_settings(job)  # sets `written`: the held backup goes on, and fails
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(playcounts.PlayWrite, "update_settings", broken)
    with pytest.raises(PlexWriteError, match="disk I/O error"):
        PlexDatabaseWriter(db.path).apply([PlayToWrite(1, _tracks(db, 1)[0], NOW)], [],
                                          backup_dir=tmp_path / "backups")
    assert held.seen_during == len(before)
    assert _table(db.path, "metadata_item_views") == before
