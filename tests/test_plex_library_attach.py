"""The library listing as SQL over Plex's attached file: the same rows as `tracks`, read the
same careful way, and the mirror `refresh_library` builds from it equal to the record path's."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.errors import PlexError
from daemon.plex import DatabaseLibrary, LibraryTrack, readonly
from daemon.plex.library import AttachableLibrary, LibrarySource
from daemon.plex.library_attach import COLUMNS, AttachedListing
from daemon.reconcile import jobs as reconcile
from tests.fakes.plex_db import PlexDb, build_plex_db
from tests.fakes.plex_library_gen import Library, generate_library

SECTION_ID = 3
NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(300, seed=1, trash_fraction=0.05)


@pytest.fixture(scope="module")
def plex_db(library: Library, tmp_path_factory: pytest.TempPathFactory) -> PlexDb:
    return build_plex_db(tmp_path_factory.mktemp("pms") / "with space.db", library,
                         section_id=SECTION_ID)


class RecordsOnly:
    """The same library through `tracks` alone (as `HttpLibrary` gives it)."""

    def __init__(self, source: DatabaseLibrary) -> None:
        self._source = source

    def section_id(self) -> int:
        return self._source.section_id()

    def tracks(self) -> Iterator[LibraryTrack]:
        return self._source.tracks()


def attached_rows(source: DatabaseLibrary) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect("file:other?mode=memory", uri=True, isolation_level=None)
    try:
        def work(listing: AttachedListing) -> list[tuple[Any, ...]]:
            conn.execute("BEGIN")
            for statement in listing.setup:
                conn.execute(statement)
            cursor = conn.execute(listing.select, listing.params)
            assert tuple(d[0] for d in cursor.description) == COLUMNS
            rows = cursor.fetchall()
            conn.execute("COMMIT")
            return sorted(rows)

        rows = source.attached_tracks(conn, work)
        assert [r[1] for r in conn.execute("PRAGMA database_list")] == ["main", "temp"]  # detached
        assert not conn.execute("SELECT name FROM temp.sqlite_master").fetchall()
        return rows
    finally:
        conn.close()


def record_rows(source: DatabaseLibrary) -> list[tuple[Any, ...]]:
    return [astuple(t) for t in source.tracks()]


def mirror(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT * FROM library_tracks ORDER BY rating_key"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("shape", ["2020", "2021", "2023", "current"])
def test_the_select_gives_the_records_of_every_shape(library: Library, tmp_path: Path,
                                                     shape: str, berlin_time: None) -> None:
    db = build_plex_db(tmp_path / f"{shape}.db", library, shape=shape, section_id=SECTION_ID)
    source = DatabaseLibrary(str(db.path))
    rows = attached_rows(source)
    assert rows == record_rows(source)
    assert len(rows) == sum(t.deleted_at is None for t in library.tracks)


def test_the_select_converts_sloppy_rows_as_the_records_do(db_copy: Path,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    plex = sqlite3.connect(db_copy, isolation_level=None)
    try:  # Plex's ICU triggers would fire on title changes; this test edits the copy only
        for (name,) in plex.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                    " AND tbl_name IN ('metadata_items', 'tags')").fetchall():
            plex.execute(f'DROP TRIGGER "{name}"')
        keys = [k for (k,) in plex.execute(
            "SELECT id FROM metadata_items WHERE metadata_type = 10 AND deleted_at IS NULL"
            " ORDER BY id LIMIT 8")]
        album = plex.execute("SELECT parent_id FROM metadata_items WHERE id = ?",
                             (keys[0],)).fetchone()[0]
        artist = plex.execute("SELECT title FROM metadata_items WHERE id = "
                              "(SELECT parent_id FROM metadata_items WHERE id = ?)",
                              (album,)).fetchone()[0]
        edits = [
            ("UPDATE metadata_items SET year = '1999' WHERE id = ?", album),
            ("UPDATE metadata_items SET duration = 123456.7, \"index\" = '' WHERE id = ?",
             keys[0]),
            ("UPDATE metadata_items SET original_title = ? WHERE id = ?",
             (artist.upper(), keys[0])),  # differs from the album artist in case only
            ("UPDATE metadata_items SET original_title = ? WHERE id = ?", (artist, keys[1])),
            ("UPDATE metadata_items SET original_title = '', guid = NULL, title = NULL"
             " WHERE id = ?", keys[2]),
            ("UPDATE metadata_items SET \"index\" = 'seven', added_at = 'not a time',"
             " updated_at = 1700000000.9 WHERE id = ?", keys[3]),
            ("UPDATE metadata_items SET added_at = '' WHERE id = ?", keys[4]),
            ("UPDATE tags SET tag = 'MBID://' || substr(tag, 8) WHERE id = (SELECT tag_id"
             " FROM taggings WHERE metadata_item_id = ? AND tag_id IN (SELECT id FROM tags"
             " WHERE tag_type = 314))", keys[5]),
        ]
        for sql, args in edits:
            plex.execute(sql, args if isinstance(args, tuple) else (args,))
        plex.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        plex.close()
    source = DatabaseLibrary(str(db_copy))
    with caplog.at_level(logging.WARNING, logger="daemon.plex.library_db"):
        rows = attached_rows(source)
    assert "unreadable Plex timestamp 'not a time'" in caplog.text
    expected = record_rows(source)
    assert rows == expected
    first = LibraryTrack(*expected[0])
    assert (first.album_year, first.duration_ms, first.track_number) == (1999, 123456, None)
    assert first.track_artist == artist.upper()
    assert LibraryTrack(*expected[1]).track_artist == ""
    assert expected[2][1:3] == ("", "")  # guid and title


def test_the_select_takes_the_servers_disc_numbers(db_copy: Path) -> None:
    source = DatabaseLibrary(str(db_copy), discs=lambda section: {k: 2 for k in range(0, 10**6, 2)})
    rows = attached_rows(source)
    assert rows == record_rows(source)
    assert {LibraryTrack(*r).disc_number for r in rows} == {2, None}


def test_the_attached_read_leaves_the_file_as_it_was(plex_db: PlexDb) -> None:
    before, files = digest(plex_db.path), sorted(os.listdir(plex_db.path.parent))
    assert attached_rows(DatabaseLibrary(str(plex_db.path)))
    assert digest(plex_db.path) == before
    assert sorted(os.listdir(plex_db.path.parent)) == files


def test_the_attached_read_sees_what_a_running_plex_committed(db_copy: Path) -> None:
    plex = sqlite3.connect(db_copy, isolation_level=None)  # stays open, like PMS
    try:
        victim = plex.execute("SELECT min(id) FROM metadata_items WHERE metadata_type = 10"
                              " AND deleted_at IS NULL").fetchone()[0]
        plex.execute("UPDATE metadata_items SET deleted_at = 1751328000 WHERE id = ?",
                     (victim,))
        before = digest(db_copy)
        assert victim not in {r[0] for r in attached_rows(DatabaseLibrary(str(db_copy)))}
        assert digest(db_copy) == before
    finally:
        plex.close()


def test_the_attached_read_is_repeated_with_locks_if_the_file_changed(
        db_copy: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    source = DatabaseLibrary(str(db_copy))
    expected = record_rows(source)
    real = readonly.file_state
    calls = 0

    def changing(path: Path) -> readonly.FileState:
        nonlocal calls
        calls += 1
        state = real(path)
        return state._replace(mtime_ns=state.mtime_ns + calls)

    monkeypatch.setattr(readonly, "file_state", changing)
    with caplog.at_level(logging.INFO, logger="daemon.plex.readonly"):
        assert attached_rows(source) == expected
    assert "reading again with locks" in caplog.text


def test_a_locked_file_gives_a_one_line_error_and_detaches(db_copy: Path) -> None:
    source = DatabaseLibrary(str(db_copy), busy_timeout_ms=50)
    plex = sqlite3.connect(db_copy, isolation_level=None)
    plex.execute("PRAGMA journal_mode=DELETE")
    plex.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PlexError) as err:
            attached_rows(source)
    finally:
        plex.execute("ROLLBACK")
        plex.close()
    assert "\n" not in str(err.value)
    assert str(db_copy) in str(err.value)
    assert "locked" in str(err.value)


def test_refresh_mirrors_the_same_rows_either_way(db_copy: Path, engine: Engine,
                                                 tmp_path: Path) -> None:
    from daemon.store.engine import open_store

    source = DatabaseLibrary(str(db_copy))
    assert isinstance(source, AttachableLibrary)
    records: LibrarySource = RecordsOnly(source)
    assert not isinstance(records, AttachableLibrary)
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        counts = reconcile.refresh_library(source, engine, now=lambda: NOW,
                                           rematch=lambda diff: {})
        by_records = reconcile.refresh_library(records, other, now=lambda: NOW,
                                               rematch=lambda diff: {})
        assert counts == by_records
        assert counts["library_tracks"] == counts["added"] > 0
        assert mirror(engine) == mirror(other)
    finally:
        other.dispose()
    with engine.connect() as conn:  # the pooled connection keeps nothing of Plex's
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        assert "plex" not in {r[1] for r in raw.execute("PRAGMA database_list")}
        assert not raw.execute("SELECT name FROM temp.sqlite_master").fetchall()
