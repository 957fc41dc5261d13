"""Rows written like Plex's own: the change counter, and history rows filled from the track."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from daemon.plex.plays import PlayToRemove, WriteResult
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import Library, generate_library

NOW = 1_760_000_000
COUNTERS = ("SELECT max(changed_at) FROM metadata_item_settings UNION ALL "
            "SELECT max(changed_at) FROM metadata_items UNION ALL "
            "SELECT max(content_changed_at) FROM library_sections")


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(80, seed=11)


def rows(path: Path, sql: str, *args: object) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def highest_counter(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return max(int(r[0] or 0) for r in conn.execute(COUNTERS))
    finally:
        conn.close()


def write(path: Path, plays: list[PlayToWrite],
          remove: list[PlayToRemove] = ()  # type: ignore[assignment]
          ) -> WriteResult:
    return PlexDatabaseWriter(path, clock=lambda: NOW).apply(plays, list(remove),
                                                           backup_dir=None)


@pytest.mark.parametrize("shape", ["2020", "current"])
def test_changed_rows_take_the_next_values_of_plexs_change_counter(
        library: Library, tmp_path: Path, shape: str) -> None:
    played, fresh = library.tracks[0], library.tracks[1]
    db = build_plex_db(tmp_path / "plex.db", library, shape=shape,
                       accounts=[(1, "owner"), (2, "guest")],
                       native_plays=[(played.id, 1, NOW - 500), (fresh.id, 2, NOW - 400)]).path
    before = highest_counter(db)
    assert before > 0  # like every real database: nonzero and increasing
    untouched = rows(db, "SELECT * FROM metadata_item_settings WHERE account_id = 2")
    plays = [PlayToWrite(1, played.id, NOW - 100), PlayToWrite(2, fresh.id, NOW)]
    result = write(db, plays)
    assert len(result.inserted) == 2
    touched = rows(db, "SELECT guid, changed_at FROM metadata_item_settings "
                   "WHERE account_id = 1 ORDER BY guid")
    assert [r["guid"] for r in touched] == sorted([played.guid, fresh.guid])
    values = [r["changed_at"] for r in touched]
    assert all(v > before for v in values)
    assert len(set(values)) == 2
    assert rows(db, "SELECT * FROM metadata_item_settings WHERE account_id = 2") == untouched
    after = highest_counter(db)
    write(db, [], result.removable(plays[:1]))  # a revert is a change too
    reverted = rows(db, "SELECT changed_at FROM metadata_item_settings WHERE guid = ? "
                    "AND account_id = 1", played.guid)
    assert reverted[0]["changed_at"] > after


def test_a_database_that_never_used_the_counter_keeps_default_zero(
        library: Library, tmp_path: Path) -> None:
    db = build_plex_db(tmp_path / "plex.db", library, with_icu_traps=False).path
    conn = sqlite3.connect(db)
    for table, column in (("metadata_items", "changed_at"),
                          ("metadata_items", "resources_changed_at"),
                          ("library_sections", "changed_at"),
                          ("library_sections", "content_changed_at")):
        conn.execute(f"UPDATE {table} SET {column} = 0")
    conn.commit()
    conn.close()
    write(db, [PlayToWrite(1, library.tracks[0].id, NOW)])
    assert rows(db, "SELECT changed_at FROM metadata_item_settings") == [{"changed_at": 0}]


@pytest.mark.parametrize("shape", ["2021", "current"])
def test_history_rows_carry_the_release_date_device_and_thumb_stay_null(
        library: Library, tmp_path: Path, shape: str) -> None:
    db = build_plex_db(tmp_path / "plex.db", library, shape=shape,
                       with_icu_traps=False).path
    firsts = list({t.album_id: t for t in reversed(library.tracks)}.values())
    by_album, own, foreign = firsts[0], firsts[1], firsts[2]  # three different albums
    conn = sqlite3.connect(db)
    own_date = conn.execute("SELECT originally_available_at FROM metadata_items WHERE id = ?",
                            (own.album_id,)).fetchone()[0]
    stamp = 1_000_000_000 if shape == "current" else "2001-09-09 03:46:40"
    conn.execute("UPDATE metadata_items SET originally_available_at = ? WHERE id = ?",
                 (stamp, own.id))  # the track's own date wins over its album's
    wrong = "2001-09-09" if shape == "current" else 1_000_000_000  # not the views' convention
    conn.execute("UPDATE metadata_items SET originally_available_at = ? WHERE id IN (?, ?)",
                 (wrong, foreign.id, foreign.album_id))
    album_date = conn.execute("SELECT originally_available_at FROM metadata_items WHERE id = ?",
                              (by_album.album_id,)).fetchone()[0]
    conn.commit()
    conn.close()
    assert own_date is not None
    assert album_date is not None
    inserted = write(db, [PlayToWrite(n, t.id, NOW + n)
                          for n, t in enumerate((by_album, own, foreign), 1)]).inserted
    got = {r["id"]: r for r in rows(db, "SELECT id, originally_available_at, device_id, "
                                    "thumb_url FROM metadata_item_views")}
    assert [got[inserted[n]]["originally_available_at"] for n in (1, 2, 3)] == [
        album_date, stamp, None]
    assert {(r["device_id"], r["thumb_url"]) for n, r in got.items()
            if n in inserted.values()} == {(None, None)}
