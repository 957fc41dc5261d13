"""Tests of the Plex DB writer, all against fixture DBs carrying Plex's ICU/FTS traps.

The traps make any write to ``metadata_items`` or ``tags`` fail under stock SQLite, and every
test that writes also checks that all tables but the two we own are byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import PlexWriteError
from daemon.plex.backup import open_plex_db
from daemon.plex.backup_rotation import list_backups
from daemon.plex.writer import (
    FileLock,
    PlayToRemove,
    PlayToWrite,
    PlexDatabaseWriter,
    WriteResult,
    restore_backup,
)
from tests.fakes.plex_db import NativePlays, PlexDb, build_plex_db, local_timestamp
from tests.fakes.plex_library_gen import Library, generate_library

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_760_000_000
OWNER, GUEST = 1, 2
ACCOUNTS = [(OWNER, "owner"), (GUEST, "guest")]
OURS = ("metadata_item_settings", "metadata_item_views")


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(300, seed=3)


def _build(tmp_path: Path, library: Library, **kw: Any) -> PlexDb:
    return build_plex_db(tmp_path / "plex" / "com.plexapp.plugins.library.db", library,
                         accounts=ACCOUNTS,
                         native_plays=NativePlays(fraction=0.3, accounts=(OWNER, GUEST)), **kw)


@pytest.fixture
def db(tmp_path: Path, library: Library) -> PlexDb:
    return _build(tmp_path, library)


@pytest.fixture
def legacy_db(tmp_path: Path, library: Library) -> PlexDb:
    return _build(tmp_path, library, legacy_timestamps=True)


def _writer(db: PlexDb, **kw: Any) -> PlexDatabaseWriter:
    return PlexDatabaseWriter(db.path, clock=lambda: NOW, **kw)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _rows(path: Path, sql: str, *args: object) -> list[dict[str, Any]]:
    conn = _connect(path)
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def dump(path: Path, *, keep_updated_at: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Full contents of our two tables (settings without updated_at and changed_at, which
    every change advances, unless asked)."""
    settings = _rows(path, "SELECT * FROM metadata_item_settings ORDER BY id")
    if not keep_updated_at:
        for row in settings:
            del row["updated_at"], row["changed_at"]
    return {"settings": settings,
            "views": _rows(path, "SELECT * FROM metadata_item_views ORDER BY id")}


def other_tables(path: Path) -> str:
    """Checksum of every ordinary table except ours (virtual tables can't be read here)."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE "
            "VIRTUAL%' AND name NOT IN (?, ?, 'sqlite_sequence') ORDER BY name", OURS)]
        digest = hashlib.sha256()
        for name in names:
            for row in conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid'):
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def settings_of(path: Path, guid: str, account: int = OWNER) -> dict[str, Any] | None:
    rows = _rows(path, "SELECT * FROM metadata_item_settings WHERE account_id = ? AND guid = ? "
                       "ORDER BY id", account, guid)
    return rows[0] if rows else None


def _played(db: PlexDb, account: int) -> dict[int, list[int]]:
    plays: dict[int, list[int]] = {}
    for p in db.plays:
        if p.account_id == account:
            plays.setdefault(p.rating_key, []).append(p.viewed_at)
    return {k: sorted(v) for k, v in plays.items()}


def _pick(db: PlexDb) -> tuple[int, int, int]:
    """(a track the owner played natively, a never-played track, one only the guest played)."""
    owner, guest = _played(db, OWNER), _played(db, GUEST)
    live = [t.id for t in db.library.tracks if t.deleted_at is None]
    native = next(k for k in live if len(owner.get(k, ())) >= 2)
    fresh = next(k for k in live if k not in owner and k not in guest)
    guest_only = next(k for k in live if k in guest and k not in owner)
    return native, fresh, guest_only


def test_fixture_has_the_icu_traps(db: PlexDb) -> None:
    conn = _connect(db.path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="unknown tokenizer"):
            conn.execute("UPDATE metadata_items SET title = 'x' WHERE id = 1")
        with pytest.raises(sqlite3.OperationalError, match="icu_root"):
            conn.execute("PRAGMA integrity_check")
    finally:
        conn.close()


def test_the_write_connection_cannot_touch_other_tables(db: PlexDb) -> None:
    conn = open_plex_db(db.path, busy_timeout_ms=100, writable=OURS)
    try:
        for sql in ("UPDATE metadata_items SET updated_at = 1 WHERE id = 1",
                    "INSERT INTO taggings(metadata_item_id) VALUES (1)",
                    "DELETE FROM accounts", "CREATE TABLE x(a)",
                    "DROP INDEX index_metadata_item_views_on_guid",
                    "PRAGMA journal_mode = DELETE", "PRAGMA writable_schema = ON",
                    "ATTACH DATABASE ':memory:' AS other"):
            with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
                conn.execute(sql)
    finally:
        conn.close()


def test_apply_writes_exact_counts_and_history(db: PlexDb) -> None:
    native, fresh, guest_only = _pick(db)
    lib = db.library
    owner_plays = _played(db, OWNER)
    guest_before = settings_of(db.path, lib.track_by_id[guest_only].guid, GUEST)
    others = other_tables(db.path)
    last_native = owner_plays[native][-1]
    plays = [PlayToWrite(10, native, last_native + 100), PlayToWrite(11, native, 1_300_000_000),
             PlayToWrite(12, native, 1_300_000_000), PlayToWrite(20, fresh, 1_600_000_000),
             PlayToWrite(21, fresh, 1_500_000_000), PlayToWrite(30, guest_only, 1_400_000_000)]
    result = _writer(db).apply(plays, [], backup_dir=None)

    assert sorted(result.inserted) == [10, 11, 12, 20, 21, 30]
    assert result.touched_tracks == 3
    assert result.deleted == []
    assert result.backup is None
    assert result.timestamp_mode == "integer"
    in_order = sorted(plays, key=lambda p: (p.rating_key, p.viewed_at, p.key))  # history order
    assert [result.inserted[p.key] for p in in_order] == sorted(result.inserted.values())

    row = settings_of(db.path, lib.track_by_id[native].guid)
    assert row is not None
    assert row["view_count"] == len(owner_plays[native]) + 3
    assert row["last_viewed_at"] == last_native + 100
    assert row["updated_at"] == NOW
    created = settings_of(db.path, lib.track_by_id[fresh].guid)
    assert created is not None
    assert (created["view_count"], created["last_viewed_at"]) == (2, 1_600_000_000)
    assert (created["created_at"], created["updated_at"]) == (NOW, NOW)
    guest_track = settings_of(db.path, lib.track_by_id[guest_only].guid)
    assert guest_track is not None
    assert guest_track["view_count"] == 1
    assert settings_of(db.path, lib.track_by_id[guest_only].guid, GUEST) == guest_before

    for key, rating_key in ((10, native), (20, fresh)):
        view = _rows(db.path, "SELECT * FROM metadata_item_views WHERE id = ?",
                     result.inserted[key])[0]
        track = lib.track_by_id[rating_key]
        album, artist = lib.album_of(track), lib.artist_of(track)
        released = _rows(db.path, "SELECT originally_available_at AS d FROM metadata_items "
                         "WHERE id = ?", album.id)[0]["d"]
        assert view == {
            "id": result.inserted[key], "account_id": OWNER, "guid": track.guid,
            "metadata_type": 10, "library_section_id": db.section_id,
            "grandparent_title": artist.title, "parent_index": track.disc if key == 10 else None,
            "parent_title": album.title, "index": track.index, "title": track.title,
            "thumb_url": None, "viewed_at": next(p.viewed_at for p in plays if p.key == key),
            "grandparent_guid": artist.guid, "originally_available_at": released,
            "device_id": None, "view_type": 0,
        }
    assert other_tables(db.path) == others


@pytest.mark.reliability("input", "unexpected Plex databases")
def test_plays_of_unknown_tracks_refuse_the_whole_batch(db: PlexDb, tmp_path: Path) -> None:
    native, _, _ = _pick(db)
    before = dump(db.path, keep_updated_at=True)
    album = db.library.tracks[0].album_id
    plays = [PlayToWrite(1, native, NOW), PlayToWrite(2, 999_999, NOW),
             PlayToWrite(3, album, NOW), PlayToWrite(4, 999_999, NOW - 1)]
    with pytest.raises(PlexWriteError) as caught:
        _writer(db).apply(plays, [], backup_dir=tmp_path / "backups")
    assert str(caught.value) == (f"3 plays name rating keys that are not tracks in Plex's "
                                 f"database (e.g. {album}, 999999); nothing written")
    assert dump(db.path, keep_updated_at=True) == before
    assert not list_backups(tmp_path / "backups")


@pytest.mark.parametrize("keys", [(1, 2, 1), (1, 1, 2), (5, 3, 3)])
def test_a_key_given_twice_refuses_the_batch(db: PlexDb, keys: tuple[int, ...]) -> None:
    native, fresh, _ = _pick(db)
    before = dump(db.path, keep_updated_at=True)
    plays = [PlayToWrite(k, (native, fresh)[n % 2], NOW - n) for n, k in enumerate(keys)]
    with pytest.raises(ValueError, match="unique"):
        _writer(db).apply(plays, [], backup_dir=None)
    assert dump(db.path, keep_updated_at=True) == before


def test_apply_then_remove_restores_both_tables_exactly(db: PlexDb) -> None:
    before, others = dump(db.path), other_tables(db.path)
    native_before = _writer(db).native_plays([t.id for t in db.library.tracks])
    rng = random.Random(1)
    ids = [t.id for t in db.library.tracks]
    plays = [PlayToWrite(n, rng.choice(ids), rng.randrange(1_262_304_000, NOW))
             for n in range(2000)]
    writer = _writer(db)
    applied = writer.apply(plays, [], backup_dir=None)
    assert len(applied.inserted) == len(plays)
    views = len(before["views"])
    assert len(dump(db.path)["views"]) == views + len(plays)
    reverted = writer.apply([], applied.removable(plays), backup_dir=None)
    assert sorted(reverted.deleted) == sorted(applied.inserted.values())
    assert dump(db.path) == before
    assert other_tables(db.path) == others
    assert writer.native_plays(ids) == native_before


def test_partial_removal_recomputes_count_and_last_played(db: PlexDb) -> None:
    native, fresh, _ = _pick(db)
    guid = db.library.track_by_id[native].guid
    count0 = settings_of(db.path, guid)["view_count"]  # type: ignore[index]
    last0 = _played(db, OWNER)[native][-1]
    writer = _writer(db)
    plays = [PlayToWrite(1, native, last0 + 10), PlayToWrite(2, native, last0 + 20),
             PlayToWrite(3, fresh, 1_500_000_000), PlayToWrite(4, fresh, 1_500_000_100)]
    written = writer.apply(plays, [], backup_dir=None)
    assert settings_of(db.path, guid)["last_viewed_at"] == last0 + 20  # type: ignore[index]
    result = writer.apply([], written.removable([plays[1], plays[3]]), backup_dir=None)
    assert result.touched_tracks == 2
    row = settings_of(db.path, guid)
    assert row is not None
    assert (row["view_count"], row["last_viewed_at"]) == (count0 + 1, last0 + 10)
    fresh_row = settings_of(db.path, db.library.track_by_id[fresh].guid)
    assert fresh_row is not None
    assert (fresh_row["view_count"], fresh_row["last_viewed_at"]) == (1, 1_500_000_000)
    writer.apply([], written.removable([plays[0], plays[2]]), backup_dir=None)
    assert settings_of(db.path, db.library.track_by_id[fresh].guid) is None
    row = settings_of(db.path, guid)
    assert row is not None
    assert (row["view_count"], row["last_viewed_at"]) == (count0, last0)


@pytest.mark.parametrize("state", ["rating", "marker"])
def test_a_settings_row_we_created_stays_when_it_gained_state(db: PlexDb, state: str) -> None:
    _, fresh, _ = _pick(db)
    guid = db.library.track_by_id[fresh].guid
    conn = _connect(db.path)
    conn.execute('CREATE TABLE "metadata_item_setting_markers" ("id" INTEGER PRIMARY KEY '
                 'AUTOINCREMENT NOT NULL, "metadata_item_setting_id" integer NOT NULL, '
                 '"marker_type" integer)')
    conn.close()
    writer = _writer(db)
    written = writer.apply([PlayToWrite(1, fresh, NOW)], [], backup_dir=None)
    created = settings_of(db.path, guid)
    assert created is not None
    conn = _connect(db.path)
    if state == "rating":
        conn.execute("UPDATE metadata_item_settings SET rating = 8 WHERE id = ?",
                     (created["id"],))
    else:
        conn.execute("INSERT INTO metadata_item_setting_markers (metadata_item_setting_id, "
                     "marker_type) VALUES (?, 1)", (created["id"],))
    conn.close()
    writer.apply([], written.removable([PlayToWrite(1, fresh, NOW)]), backup_dir=None)
    row = settings_of(db.path, guid)
    assert row is not None
    assert (row["id"], row["view_count"], row["last_viewed_at"]) == (created["id"], 0, None)


def test_played_mark_without_history_survives(db: PlexDb) -> None:
    """A count and last play Plex holds without history rows (mark played) are kept."""
    native, _, _ = _pick(db)
    guid = db.library.track_by_id[native].guid
    marked = NOW - 5
    conn = _connect(db.path)
    conn.execute("UPDATE metadata_item_settings SET view_count = view_count + 1, "
                 "last_viewed_at = ? WHERE account_id = 1 AND guid = ?", (marked, guid))
    conn.close()
    before = settings_of(db.path, guid)
    assert before is not None
    writer = _writer(db)
    play = PlayToWrite(1, native, NOW - 1000)
    written = writer.apply([play], [], backup_dir=None)
    row = settings_of(db.path, guid)
    assert row is not None
    assert (row["view_count"], row["last_viewed_at"]) == (before["view_count"] + 1, marked)
    writer.apply([], written.removable([play]), backup_dir=None)
    row = settings_of(db.path, guid)
    assert row is not None
    assert (row["view_count"], row["last_viewed_at"]) == (before["view_count"], marked)


def test_removal_only_deletes_the_accounts_existing_rows(db: PlexDb) -> None:
    native, _, _ = _pick(db)
    writer = _writer(db)
    play = PlayToWrite(1, native, 1_400_000_000)
    ours = writer.apply([play], [], backup_dir=None).removable([play])[0]
    guest = _rows(db.path, "SELECT id, guid, viewed_at FROM metadata_item_views "
                           "WHERE account_id = ? LIMIT 1", GUEST)[0]
    conn = _connect(db.path)
    episode = int(conn.execute("INSERT INTO metadata_item_views (account_id, guid, "
                               "metadata_type, viewed_at) VALUES (1, 'plex://episode/x', 4, 1)")
                  .lastrowid or 0)
    conn.close()
    result = writer.apply([], [ours, PlayToRemove(guest["id"], guest["guid"], guest["viewed_at"]),
                               PlayToRemove(10**9, ours.guid, ours.viewed_at), ours,
                               PlayToRemove(episode, "plex://episode/x", 1)], backup_dir=None)
    assert result.deleted == [ours.view_id]
    for kept in (guest["id"], episode):
        assert _rows(db.path, "SELECT id FROM metadata_item_views WHERE id = ?", kept)
    assert writer.apply([], [ours], backup_dir=None).deleted == []


@pytest.mark.parametrize("legacy", [False, True])
def test_removal_needs_the_full_fingerprint(tmp_path: Path, library: Library,
                                            legacy: bool) -> None:
    """A row under one of our ids whose guid, time, account or type differs is not ours (Plex
    reuses ids after its database is rolled back): never deleted, counts untouched."""
    db = _build(tmp_path, library, legacy_timestamps=legacy)
    native, fresh, _ = _pick(db)
    writer = _writer(db)
    plays = [PlayToWrite(n, fresh, 1_500_000_000 + n) for n in range(1, 6)]
    rows = writer.apply(plays, [], backup_dir=None).removable(plays)
    other_guid = db.library.track_by_id[native].guid
    conn = _connect(db.path)
    conn.execute("UPDATE metadata_item_views SET guid = ? WHERE id = ?",
                 (other_guid, rows[0].view_id))
    conn.execute("UPDATE metadata_item_views SET account_id = ? WHERE id = ?",
                 (GUEST, rows[1].view_id))
    conn.execute("UPDATE metadata_item_views SET metadata_type = 4 WHERE id = ?",
                 (rows[2].view_id,))
    conn.close()
    wrong_time = rows[3]._replace(viewed_at=rows[3].viewed_at + 1)
    before = dump(db.path)
    result = writer.apply([], [*rows[:3], wrong_time], backup_dir=None)
    assert result.deleted == []
    assert dump(db.path) == before
    assert writer.apply([], [rows[3], rows[4]], backup_dir=None).deleted == [
        rows[3].view_id, rows[4].view_id]


def test_native_plays_excludes_ours_and_filters_accounts(db: PlexDb) -> None:
    writer = _writer(db)
    keys = [t.id for t in db.library.tracks]
    assert writer.native_plays(keys) == _played(db, OWNER)
    assert writer.native_plays(keys, account_id=GUEST) == _played(db, GUEST)
    native, fresh, _ = _pick(db)
    ours = writer.apply([PlayToWrite(1, native, 1_400_000_000), PlayToWrite(2, fresh, 5)], [],
                        backup_dir=None).inserted
    seen = writer.native_plays([native, fresh], exclude_view_ids=set(ours.values()))
    assert seen == {native: _played(db, OWNER)[native]}
    assert writer.native_plays([fresh])[fresh] == [5]
    assert writer.native_plays([999_999, db.library.tracks[0].album_id]) == {}


def test_duplicate_settings_rows_update_the_lowest_id(db: PlexDb,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    native, _, _ = _pick(db)
    guid = db.library.track_by_id[native].guid
    conn = _connect(db.path)
    conn.execute("INSERT INTO metadata_item_settings (account_id, guid, view_count) "
                 "VALUES (1, ?, 99)", (guid,))
    conn.close()
    first = settings_of(db.path, guid)
    assert first is not None
    with caplog.at_level(logging.WARNING, logger="daemon.plex"):
        _writer(db).apply([PlayToWrite(1, native, 1_400_000_000)], [], backup_dir=None)
    rows = _rows(db.path, "SELECT id, view_count FROM metadata_item_settings "
                          "WHERE account_id = 1 AND guid = ? ORDER BY id", guid)
    assert rows == [{"id": first["id"], "view_count": first["view_count"] + 1},
                    {"id": rows[1]["id"], "view_count": 99}]
    assert "duplicate metadata_item_settings rows" in caplog.text


def test_legacy_string_timestamps_are_written_in_their_own_convention(legacy_db: PlexDb) -> None:
    db = legacy_db
    writer = _writer(db)
    assert writer.timestamp_mode() == "legacy-string"
    before, others = dump(db.path), other_tables(db.path)
    native, fresh, _ = _pick(db)
    plays = [PlayToWrite(1, native, NOW - 60), PlayToWrite(2, fresh, 1_500_000_000)]
    result = writer.apply(plays, [], backup_dir=None)
    assert result.timestamp_mode == "legacy-string"
    view = _rows(db.path, "SELECT viewed_at, typeof(viewed_at) AS t FROM metadata_item_views "
                          "WHERE id = ?", result.inserted[1])[0]
    assert view == {"viewed_at": local_timestamp(NOW - 60), "t": "text"}
    row = settings_of(db.path, db.library.track_by_id[native].guid)
    assert row is not None
    assert (row["last_viewed_at"], row["updated_at"]) == (local_timestamp(NOW - 60),
                                                          local_timestamp(NOW))
    created = settings_of(db.path, db.library.track_by_id[fresh].guid)
    assert created is not None
    assert created["created_at"] == local_timestamp(NOW)
    assert created["last_viewed_at"] == local_timestamp(1_500_000_000)
    assert writer.timestamp_mode() == "legacy-string"  # still consistent after our write
    expected = _played(db, OWNER)
    expected[native] = [*expected[native], NOW - 60]
    expected[fresh] = [1_500_000_000]
    assert writer.native_plays([t.id for t in db.library.tracks]) == expected
    writer.apply([], result.removable(plays), backup_dir=None)
    assert dump(db.path) == before
    assert other_tables(db.path) == others


def _retype_views_to_legacy(path: Path) -> None:
    """Undo migration 202205091600 on the views table only, as its rollback_sql does."""
    conn = sqlite3.connect(path, isolation_level=None)
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'dt_integer(8)', 'datetime') "
                 "WHERE name = 'metadata_item_views'")
    conn.execute(f"PRAGMA schema_version = {version + 1}")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE metadata_item_views SET viewed_at = iif(typeof(viewed_at) IN "
                 "('integer', 'real'), datetime(viewed_at, 'unixepoch', 'localtime'), viewed_at)")
    conn.close()


@pytest.mark.parametrize(("case", "message"), [
    ("text in an integer column", "metadata_item_views.viewed_at mixes integer and text"),
    ("integer in a legacy column", "metadata_item_settings.last_viewed_at is declared datetime"),
    ("tables disagree", "timestamps are mixed"),
    ("garbage text", "not a Plex timestamp"),
])
@pytest.mark.reliability("input", "unexpected Plex databases")
def test_mixed_timestamp_conventions_are_refused(tmp_path: Path, library: Library, case: str,
                                                 message: str) -> None:
    db = _build(tmp_path, library, legacy_timestamps=case == "integer in a legacy column")
    conn = sqlite3.connect(db.path, isolation_level=None)
    if case == "text in an integer column":
        conn.execute("UPDATE metadata_item_views SET viewed_at = '2021-05-01 10:00:00' "
                     "WHERE id = 3")
    elif case == "integer in a legacy column":
        conn.execute("UPDATE metadata_item_settings SET last_viewed_at = "  # a tool's epochs
                     "CAST(strftime('%s', last_viewed_at, 'utc') AS INTEGER)")
    elif case == "garbage text":
        conn.execute("UPDATE metadata_item_settings SET created_at = 'yesterday' WHERE id = 2")
    conn.close()
    if case == "tables disagree":
        _retype_views_to_legacy(db.path)
    before = dump(db.path, keep_updated_at=True)
    writer = _writer(db)
    with pytest.raises(PlexWriteError, match=message) as caught:
        writer.timestamp_mode()
    assert "\n" not in str(caught.value)
    native, _, _ = _pick(db)
    with pytest.raises(PlexWriteError, match=message):
        writer.apply([PlayToWrite(1, native, NOW)], [], backup_dir=tmp_path / "backups")
    assert dump(db.path, keep_updated_at=True) == before
    assert not list_backups(tmp_path / "backups")


@pytest.mark.reliability("fault", "locked or busy Plex database")
def test_locked_database_waits_for_the_busy_timeout_then_fails_cleanly(db: PlexDb,
                                                                        tmp_path: Path) -> None:
    before = dump(db.path, keep_updated_at=True)
    native, _, _ = _pick(db)
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(PlexWriteError) as caught:
            _writer(db, busy_timeout_ms=300).apply([PlayToWrite(1, native, NOW)], [],
                                                   backup_dir=tmp_path / "backups")
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(caught.value) == "Plex's database is locked by another process (is Plex running?)"
    assert 0.25 <= waited < 5
    assert dump(db.path, keep_updated_at=True) == before
    assert not list_backups(tmp_path / "backups")


def test_dry_run_writes_nothing_and_makes_no_backup(db: PlexDb, tmp_path: Path) -> None:
    native, fresh, _ = _pick(db)
    before, others = dump(db.path, keep_updated_at=True), other_tables(db.path)
    plays = [PlayToWrite(1, native, NOW - 9), PlayToWrite(2, fresh, NOW - 8)]
    writer = _writer(db)
    dry = writer.apply(plays, [], backup_dir=tmp_path / "backups", dry_run=True)
    assert dry.backup is None
    assert len(dry.inserted) == 2
    assert dry.touched_tracks == 2
    assert dump(db.path, keep_updated_at=True) == before
    assert other_tables(db.path) == others
    assert not (tmp_path / "backups").exists()
    real = writer.apply(plays, [], backup_dir=None)
    assert real.inserted == dry.inserted
    assert real.touched_tracks == dry.touched_tracks
    dry_remove = writer.apply([], real.removable(plays), backup_dir=None, dry_run=True)
    assert sorted(dry_remove.deleted) == sorted(real.inserted.values())
    assert len(dump(db.path)["views"]) == len(before["views"]) + 2


@pytest.mark.reliability("input", "unexpected Plex databases")
def test_missing_or_foreign_databases_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlexWriteError, match="not found"):
        PlexDatabaseWriter(tmp_path / "nope.db").apply([], [], backup_dir=None)
    assert not (tmp_path / "nope.db").exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(PlexWriteError, match="not a Plex library database"):
        PlexDatabaseWriter(junk).timestamp_mode()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(a)").connection.close()
    with pytest.raises(PlexWriteError, match=r"not a Plex library database: .*metadata_items"):
        PlexDatabaseWriter(other).apply([], [], backup_dir=None)


def test_backup_is_consistent_and_includes_wal_content(db: PlexDb, tmp_path: Path) -> None:
    writer = PlexDatabaseWriter(db.path)
    conn = sqlite3.connect(db.path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("INSERT INTO metadata_item_views (account_id, guid, title, viewed_at) "
                     "VALUES (1, 'plex://track/only-in-wal', 'WAL marker', 1)")
        assert Path(f"{db.path}-wal").stat().st_size > 0
        main_file = sqlite3.connect(f"{db.path.as_uri()}?mode=ro&immutable=1", uri=True)
        assert main_file.execute("SELECT count(*) FROM metadata_item_views "
                                 "WHERE title = 'WAL marker'").fetchone() == (0,)
        main_file.close()
        copy = writer.backup(tmp_path / "backups")
    finally:
        conn.close()
    assert copy.parent == tmp_path / "backups"
    assert copy.name.startswith("com.plexapp.plugins.library.")
    assert copy.suffix == ".db"
    assert dump(copy, keep_updated_at=True) == dump(db.path, keep_updated_at=True)
    assert other_tables(copy) == other_tables(db.path)
    assert _rows(copy, "SELECT title FROM metadata_item_views WHERE guid = ?",
                 "plex://track/only-in-wal") == [{"title": "WAL marker"}]
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]


def test_backup_rotation_keeps_the_newest(db: PlexDb, tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    writer = PlexDatabaseWriter(db.path, clock=lambda: now[0])
    dest = tmp_path / "backups"
    dest.mkdir()
    (dest / "notes.txt").write_text("not a backup")
    stale = dest / ".com.plexapp.plugins.library.20200101T000000Z.db.partial"
    fresh = dest / ".com.plexapp.plugins.library.20991231T000000Z.db.partial"
    for leftover in (stale, fresh):  # what a killed backup leaves behind
        leftover.write_bytes(b"torn")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    made = []
    for step in (0, 0, 60, 120, 180):  # two in the same second get a -1 suffix
        now[0] += step
        made.append(writer.backup(dest, keep=3))
    assert made[1].name.endswith("Z-1.db")
    assert list_backups(dest) == made[2:]
    assert (dest / "notes.txt").exists()
    assert not stale.exists()
    assert fresh.exists()  # may belong to a backup still running
    native, _, _ = _pick(db)
    now[0] += 60
    result = writer.apply([PlayToWrite(1, native, NOW)], [], backup_dir=dest, keep_backups=2)
    assert result.backup is not None
    assert list_backups(dest) == [made[-1], result.backup]


def test_restore_puts_back_the_state_before_apply(db: PlexDb, tmp_path: Path) -> None:
    before, others = dump(db.path, keep_updated_at=True), other_tables(db.path)
    native, fresh, _ = _pick(db)
    writer = _writer(db)
    result = writer.apply([PlayToWrite(1, native, NOW), PlayToWrite(2, fresh, NOW)], [],
                          backup_dir=tmp_path / "backups")
    assert result.backup is not None
    assert dump(result.backup, keep_updated_at=True) == before
    assert dump(db.path, keep_updated_at=True) != before
    restore_backup(result.backup, db.path)
    assert dump(db.path, keep_updated_at=True) == before
    assert other_tables(db.path) == others
    assert _rows(db.path, "PRAGMA journal_mode") == [{"journal_mode": "wal"}]
    again = writer.apply([PlayToWrite(3, fresh, NOW)], [], backup_dir=None)  # still writable
    assert len(again.inserted) == 1


def test_restore_refuses_a_locked_target_and_missing_backups(db: PlexDb, tmp_path: Path) -> None:
    copy = _writer(db).backup(tmp_path / "backups")
    native, _, _ = _pick(db)
    _writer(db).apply([PlayToWrite(1, native, NOW)], [], backup_dir=None)
    after = dump(db.path, keep_updated_at=True)
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(PlexWriteError, match="locked by another process"):
            restore_backup(copy, db.path, busy_timeout_ms=200)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert dump(db.path, keep_updated_at=True) == after
    with pytest.raises(PlexWriteError, match="backup not found"):
        restore_backup(tmp_path / "missing.db", db.path)


# --- FileLock ------------------------------------------------------------------------------

LOCK_HOLDER = """
import sys
from daemon.plex.lock import FileLock
with FileLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _wait_for_line(proc: subprocess.Popen[str], expected: str, deadline_s: float) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + deadline_s
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {expected!r} line before the deadline"
            if selector.select(timeout=remaining):
                line = proc.stdout.readline()
                assert line, f"child exited before printing {expected!r}"
                if line.strip() == expected:
                    return


@pytest.fixture
def lock_holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    path = tmp_path / "apply.lock"
    proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        _wait_for_line(proc, "locked", 20)
        yield proc, path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_file_lock_excludes_a_second_process(
        lock_holder: tuple[subprocess.Popen[str], Path]) -> None:
    proc, path = lock_holder
    started = time.monotonic()
    with pytest.raises(PlexWriteError) as caught:
        FileLock(path, timeout=0.2).acquire()
    assert str(caught.value) == f"another plexfm is applying (lock {path} held)"
    assert time.monotonic() - started >= 0.2
    assert proc.stdin is not None
    proc.stdin.write("done\n")
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    with FileLock(path, timeout=10) as lock:  # polls until the holder's release is seen
        assert lock.held
        with pytest.raises(PlexWriteError):
            FileLock(path).acquire()  # flock is per open file: same process excluded too
    assert not lock.held


@pytest.mark.reliability("fault", "locked or busy Plex database")
def test_file_lock_is_released_when_the_holder_is_killed(
        lock_holder: tuple[subprocess.Popen[str], Path]) -> None:
    proc, path = lock_holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    with FileLock(path, timeout=10):
        assert path.read_text().strip() == str(os.getpid())


# --- kill test -------------------------------------------------------------------------------

KILL_CHILD = """
import logging, random, sqlite3, sys
from pathlib import Path
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter

class Begun(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("Plex write transaction begun"):
            print("BEGUN", flush=True)

log = logging.getLogger("daemon.plex.writer")
log.addHandler(Begun())
log.setLevel(logging.DEBUG)
path, n, backups = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
conn = sqlite3.connect(path)
ids = [r[0] for r in conn.execute("SELECT id FROM metadata_items WHERE metadata_type = 10")]
conn.close()
rng = random.Random(42)
plays = [PlayToWrite(k, rng.choice(ids), rng.randrange(1262304000, 1760000000))
         for k in range(n)]
PlexDatabaseWriter(path, clock=lambda: 1760000000).apply(plays, [], backup_dir=backups,
                                                          keep_backups=2)
print("DONE", flush=True)
"""
KILL_PLAYS = 50_000
KILL_ROUNDS = 15


def table_checksums(path: Path) -> str:
    """Content checksum of our two tables (ids and every column)."""
    conn = sqlite3.connect(path)
    try:
        digest = hashlib.sha256()
        for table in OURS:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def check_structure(path: Path) -> None:
    """What stock SQLite can check. ``PRAGMA integrity_check``/``quick_check`` on the whole DB
    fail on Plex's ``icu_root`` index (no such collation), so: integrity_check of our two tables
    and their indexes (table-scoped, never touches the ICU objects), plus foreign_key_check."""
    conn = sqlite3.connect(path)
    try:
        for table in OURS:
            assert conn.execute(f"PRAGMA integrity_check({table})").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def _run_child(db: Path, backups: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(db), str(KILL_PLAYS),
                             str(backups)], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _fresh_copy(pristine: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    target = work / pristine.name
    shutil.copyfile(pristine, target)
    return target


@pytest.mark.slow
@pytest.mark.reliability("fault", "SIGKILL during a Plex database write")
def test_sigkill_at_any_moment_leaves_before_or_after(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    lib = generate_library(3000, seed=9)
    pristine = build_plex_db(tmp_path / "pristine" / "com.plexapp.plugins.library.db", lib,
                             native_plays=NativePlays(fraction=0.2)).path
    assert not Path(f"{pristine}-wal").exists()
    before = table_checksums(pristine)
    others = other_tables(pristine)

    db = _fresh_copy(pristine, tmp_path / "work")
    proc = _run_child(db, tmp_path / "backups")
    _wait_for_line(proc, "BEGUN", 30)
    started = time.monotonic()
    _wait_for_line(proc, "DONE", 60)
    duration = time.monotonic() - started
    assert proc.wait(timeout=10) == 0
    after = table_checksums(db)
    assert after != before

    rng = random.Random(7)
    seen = []
    kills = 0
    for _ in range(KILL_ROUNDS):
        db = _fresh_copy(pristine, tmp_path / "work")
        proc = _run_child(db, tmp_path / "backups")
        try:
            _wait_for_line(proc, "BEGUN", 30)
            time.sleep(rng.uniform(0, duration * 1.5))  # the kill moment, not a wait
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            kills += proc.wait(timeout=10) == -signal.SIGKILL  # not when it had finished
        state = table_checksums(db)  # opening runs SQLite's WAL recovery
        assert state in (before, after)
        seen.append("before" if state == before else "after")
        check_structure(db)
        assert other_tables(db) == others
    record_property("reliability_cases", kills)
    assert "before" in seen, seen
    native = next(t.id for t in lib.tracks if t.deleted_at is None)
    result = PlexDatabaseWriter(db).apply([PlayToWrite(1, native, NOW)], [], backup_dir=None)
    assert len(result.inserted) == 1  # the DB is fine to write after a kill


def test_write_result_is_plain_values(db: PlexDb) -> None:
    native, _, _ = _pick(db)
    result = _writer(db).apply([PlayToWrite(7, native, NOW)], [], backup_dir=None)
    assert isinstance(result, WriteResult)
    assert isinstance(result.inserted[7], int)
    with pytest.raises(ValueError, match="unique"):
        _writer(db).apply([PlayToWrite(7, native, NOW), PlayToWrite(7, native, NOW)], [],
                          backup_dir=None)


def test_a_later_history_row_than_our_plays_stays_the_last_play(db: PlexDb) -> None:
    """last_viewed_at = the latest history row of the account, even when the settings row
    said older (a pruned or hand-edited row) and the latest row is not one of ours; the
    guest's later row does not count for the owner."""
    native, _, _ = _pick(db)
    guid = db.library.track_by_id[native].guid
    latest = max(_played(db, OWNER)[native])
    conn = _connect(db.path)
    conn.execute("UPDATE metadata_item_settings SET last_viewed_at = ? WHERE account_id = 1"
                 " AND guid = ?", (latest - 10_000, guid))
    conn.execute("INSERT INTO metadata_item_views (account_id, guid, metadata_type, viewed_at)"
                 " VALUES (2, ?, 10, ?)", (guid, latest + 50))
    conn.close()
    writer = _writer(db)
    writer.apply([PlayToWrite(1, native, latest - 500), PlayToWrite(2, native, latest - 100)],
                 [], backup_dir=None)
    row = settings_of(db.path, guid)
    assert row is not None
    assert row["last_viewed_at"] == latest
    writer.apply([PlayToWrite(3, native, latest + 20)], [], backup_dir=None)
    row = settings_of(db.path, guid)
    assert row is not None
    assert row["last_viewed_at"] == latest + 20


def test_old_backups_go_after_the_write_commits_not_under_its_lock(
        db: PlexDb, tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    writer = PlexDatabaseWriter(db.path, clock=lambda: now[0])
    dest = tmp_path / "backups"
    made = []
    for _ in range(3):
        now[0] += 60
        made.append(writer.backup(dest, keep=3))
    native, _, _ = _pick(db)
    now[0] += 60
    at_commit: list[list[Path]] = []
    result = writer.apply([PlayToWrite(1, native, NOW)], [], backup_dir=dest, keep_backups=2,
                          committed=lambda _r: at_commit.append(list_backups(dest)))
    assert result.backup is not None
    assert at_commit == [[*made, result.backup]], "an old backup went before the commit"
    assert list_backups(dest) == [made[-1], result.backup]


def test_a_backup_that_cannot_be_removed_leaves_the_write_done(
        db: PlexDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from daemon.plex import writer as writer_module

    def refused(_dir: Path, _keep: int, **_: Any) -> list[Path]:
        raise PermissionError(13, "Permission denied", str(_dir))

    monkeypatch.setattr(writer_module, "rotate_backups", refused)
    native, _, _ = _pick(db)
    with caplog.at_level(logging.WARNING):
        result = _writer(db).apply([PlayToWrite(1, native, NOW)], [],
                                   backup_dir=tmp_path / "backups", keep_backups=1)
    assert len(result.inserted) == 1
    assert result.backup is not None
    assert result.backup.exists()
    assert "could not be removed" in caplog.text
    conn = sqlite3.connect(db.path)
    try:
        written = conn.execute("SELECT count(*) FROM metadata_item_views WHERE viewed_at = ? "
                               "AND guid = ?", (NOW, db.library.track_by_id[native].guid))
        assert written.fetchone()[0] == 1
    finally:
        conn.close()
