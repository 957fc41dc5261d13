"""The backup begun beside the apply's plan (`daemon.plex.early_backup`, issue 16): used by the
write only when nothing was committed to Plex's database between the copy's start and the
write lock; otherwise deleted, and the write backs up again (the backup is always the state
the write starts from)."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from daemon.plex import early_backup, writer
from daemon.plex.backup_files import list_backups
from daemon.plex.early_backup import EarlyBackup
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter
from tests.fakes.plex_db import NativePlays, PlexDb, build_plex_db
from tests.fakes.plex_library_gen import Library, generate_library
from tests.test_plex_backup_beside import _count, _table, _tracks

NOW = 1_760_000_000


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(120, seed=11)


@pytest.fixture
def db(tmp_path: Path, library: Library) -> PlexDb:
    return build_plex_db(tmp_path / "plex" / "com.plexapp.plugins.library.db", library,
                         native_plays=NativePlays(fraction=0.3))


def _copied(early: EarlyBackup) -> None:
    """Poll (with a deadline) until the early copy has finished."""
    deadline = time.monotonic() + 20
    while early._thread is not None and early._thread.is_alive():
        assert time.monotonic() < deadline, "the early copy never finished"
        time.sleep(0.01)


def _count_backups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    taken: list[int] = []
    real = writer.backup_database

    def counted(*args: Any, **kwargs: Any) -> Path:
        taken.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "backup_database", counted)
    return taken


def test_an_early_backup_of_an_unchanged_database_is_the_writes_backup(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {t: _table(db.path, t) for t in ("metadata_item_views", "metadata_item_settings")}
    taken = _count_backups(monkeypatch)
    early = EarlyBackup(db.path, tmp_path / "backups", busy_timeout_ms=5000)
    _copied(early)
    keys = _tracks(db, 20)
    result = PlexDatabaseWriter(db.path).apply(
        [PlayToWrite(i, key, NOW - i * 600) for i, key in enumerate(keys, 1)], [],
        backup_dir=tmp_path / "backups", early=early)
    assert taken == []  # no second copy
    assert result.backup is not None
    assert list_backups(tmp_path / "backups") == [result.backup]
    assert {t: _table(result.backup, t) for t in before} == before
    assert _count(db.path) == len(before["metadata_item_views"]) + len(keys)
    early.discard()  # after the claim: nothing to do
    assert result.backup.exists()
    assert not list((tmp_path / "backups").glob(".*partial*"))


def test_a_commit_after_the_early_backup_began_makes_the_write_back_up_again(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    taken = _count_backups(monkeypatch)
    early = EarlyBackup(db.path, tmp_path / "backups", busy_timeout_ms=5000)
    _copied(early)
    plex = sqlite3.connect(db.path)  # Plex (or anyone) commits meanwhile
    with plex:
        plex.execute("UPDATE metadata_item_settings SET view_count = view_count + 7 WHERE id ="
                     " (SELECT min(id) FROM metadata_item_settings)")
    plex.close()
    changed = _table(db.path, "metadata_item_settings")
    caplog.set_level(logging.INFO, logger="daemon.plex.early_backup")
    result = PlexDatabaseWriter(db.path).apply(
        [PlayToWrite(1, _tracks(db, 1)[0], NOW)], [], backup_dir=tmp_path / "backups",
        early=early)
    assert taken == [1]
    assert "changed since the early backup began" in caplog.text
    assert result.backup is not None
    assert list_backups(tmp_path / "backups") == [result.backup]
    assert _table(result.backup, "metadata_item_settings") == changed  # the state before
    assert not list((tmp_path / "backups").glob(".*partial*"))


def test_a_discarded_early_backup_leaves_nothing(db: PlexDb, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(early_backup, "STEP_PAGES", 1)  # many steps: stopped part way
    early = EarlyBackup(db.path, tmp_path / "backups", busy_timeout_ms=5000)
    early.discard()
    assert early.claim(3) is None
    finished = EarlyBackup(db.path, tmp_path / "backups", busy_timeout_ms=5000)
    _copied(finished)  # a copy that completed (the apply then found nothing to write)
    assert list((tmp_path / "backups").glob(".*partial*"))
    finished.discard()
    assert list_backups(tmp_path / "backups") == []
    assert not list((tmp_path / "backups").glob(".*partial*"))


def test_a_database_not_in_wal_mode_gets_no_early_backup(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(db.path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    taken = _count_backups(monkeypatch)
    early = EarlyBackup(db.path, tmp_path / "backups", busy_timeout_ms=5000)
    assert not (tmp_path / "backups").exists()
    result = PlexDatabaseWriter(db.path).apply(
        [PlayToWrite(1, _tracks(db, 1)[0], NOW)], [], backup_dir=tmp_path / "backups",
        early=early)
    assert taken == [1]
    assert list_backups(tmp_path / "backups") == [result.backup]


def test_no_early_backup_for_a_missing_database(tmp_path: Path) -> None:
    assert EarlyBackup.start(tmp_path / "nothing.db", tmp_path / "backups") is None
