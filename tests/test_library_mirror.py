"""The library mirror in the store: the diff, what it writes, and the search index it keeps."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from daemon.plex import LibraryTrack
from daemon.store import library as library_store
from daemon.store.engine import create_store_engine, open_store, write
from daemon.store.migrations import migrate
from daemon.store.search import search_library

SECTION = 1


def track(key: int, title: str, artist: str = "Björk", album: str = "Debut",
          **changes: Any) -> LibraryTrack:
    base = LibraryTrack(
        rating_key=key, guid=f"plex://track/{key}", title=title, track_artist="",
        album_artist=artist, album=album, album_year=1993, track_number=key % 20,
        disc_number=None, duration_ms=200_000, album_rating_key=key // 10 + 10_000,
        artist_rating_key=20_000, album_guid="plex://album/a", artist_guid="plex://artist/b",
        track_mbid="", album_mbid="", artist_mbid="", added_at=1_600_000_000,
        updated_at=1_600_000_100)
    return dataclasses.replace(base, **changes)


def mirror(engine: Engine, tracks: Iterable[LibraryTrack], at: int,
           section: int = SECTION) -> library_store.LibraryDiff:
    with engine.connect() as conn:
        with conn.begin():
            library_store.stage_tracks(conn, section, tracks, at)
        conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            return library_store.apply_staged(conn, section, at)


def found(engine: Engine, text: str) -> list[int]:
    with engine.connect() as conn:
        return sorted(int(t["rating_key"]) for t in search_library(conn, text, limit=50))


def index_is_sound(engine: Engine) -> None:
    """FTS5's own check: for an external-content table, the index against library_tracks."""
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO library_fts (library_fts) VALUES ('integrity-check')")


def rows(engine: Engine) -> dict[int, tuple[Any, ...]]:
    with engine.connect() as conn:
        return {int(r[0]): tuple(r) for r in
                conn.exec_driver_sql("SELECT * FROM library_tracks ORDER BY rating_key")}


FIRST = [track(1, "Human Behaviour"), track(2, "Crying"), track(3, "Venus as a Boy"),
         track(4, "Big Time Sensuality"), track(5, "Aeroplane", artist="Sigur Rós")]


def test_the_diff_names_added_changed_and_removed_tracks(engine: Engine) -> None:
    assert mirror(engine, FIRST, 100).counts() == {"added": 5, "changed": 0, "removed": 0}
    second = [FIRST[0], dataclasses.replace(FIRST[1], title="Crying (Remix)"), FIRST[2],
              dataclasses.replace(FIRST[4], album_mbid="mb-1"), track(6, "Violently Happy")]
    diff = mirror(engine, second, 200)
    assert (diff.added, diff.changed, diff.removed) == ([6], [2, 5], [4])
    assert sorted(rows(engine)) == [1, 2, 3, 5, 6]
    assert mirror(engine, second, 300).empty


def test_other_sections_are_left_alone(engine: Engine) -> None:
    mirror(engine, FIRST, 100)
    other = [track(101, "Hyperballad", album="Post")]
    assert mirror(engine, other, 150, section=2).counts() == {
        "added": 1, "changed": 0, "removed": 0}
    assert mirror(engine, FIRST[:2], 200).removed == [3, 4, 5]
    assert sorted(rows(engine)) == [1, 2, 101]
    assert found(engine, "hyper") == [101]


def test_search_follows_every_kind_of_change(engine: Engine) -> None:
    mirror(engine, FIRST, 100)
    assert found(engine, "bjork") == [1, 2, 3, 4]
    assert found(engine, "cry") == [2]
    assert found(engine, "sigur aero") == [5]
    index_is_sound(engine)
    second = [FIRST[0], dataclasses.replace(FIRST[1], title="Weeping"), FIRST[2],
              dataclasses.replace(FIRST[4], album_artist="Jónsi"), track(6, "Violently Happy")]
    mirror(engine, second, 200)
    assert found(engine, "cry") == []
    assert found(engine, "weep") == [2]
    assert found(engine, "big time") == []  # removed
    assert found(engine, "sigur") == []
    assert found(engine, "jonsi aero") == [5]
    assert found(engine, "violent") == [6]
    assert found(engine, "bjork") == [1, 2, 3, 6]
    index_is_sound(engine)
    mirror(engine, [], 300)
    assert found(engine, "bjork") == []
    index_is_sound(engine)


def test_the_search_triggers_are_back_after_a_refresh(engine: Engine) -> None:
    def triggers() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            return [(str(r[0]), str(r[1])) for r in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                " AND tbl_name = 'library_tracks' ORDER BY name")]

    before = triggers()
    assert [name for name, _ in before] == sorted(library_store.FTS_TRIGGERS)
    mirror(engine, FIRST, 100)
    assert triggers() == before
    with write(engine) as conn:  # any other writer is indexed by the triggers
        conn.exec_driver_sql("INSERT INTO library_tracks (rating_key, section_id, title,"
                             " album_artist, refreshed_at) VALUES (50, 1, 'Jóga', 'Björk', 0)")
        conn.exec_driver_sql("UPDATE library_tracks SET title = 'Unravel' WHERE rating_key = 1")
        conn.exec_driver_sql("DELETE FROM library_tracks WHERE rating_key = 2")
    assert found(engine, "joga") == [50]
    assert found(engine, "unrav") == [1]
    assert found(engine, "human") == []
    assert found(engine, "crying") == []
    index_is_sound(engine)


def test_a_failed_refresh_leaves_mirror_index_and_triggers_as_they_were(engine: Engine) -> None:
    mirror(engine, FIRST, 100)
    before = rows(engine)
    with engine.connect() as conn:
        with conn.begin():
            library_store.stage_tracks(conn, SECTION, [track(9, "Jóga")], 200)
        conn.execution_options(sqlite_begin="IMMEDIATE")
        transaction = conn.begin()
        diff = library_store.apply_staged(conn, SECTION, 200)
        assert diff.counts() == {"added": 1, "changed": 0, "removed": 5}
        transaction.rollback()  # the job died before its commit
    assert rows(engine) == before
    assert found(engine, "venus") == [3]
    assert found(engine, "joga") == []
    index_is_sound(engine)
    assert mirror(engine, [track(9, "Jóga")], 300).counts() == {
        "added": 1, "changed": 0, "removed": 5}


def test_an_unchanged_listing_writes_nothing(engine: Engine, store_url: str) -> None:
    mirror(engine, FIRST, 100)
    changed = [*FIRST[:4], dataclasses.replace(FIRST[4], title="Aeroplane (Live)")]
    mirror(engine, changed, 200)
    by_key = rows(engine)
    assert {k: r[-1] for k, r in by_key.items()} == {1: 100, 2: 100, 3: 100, 4: 100, 5: 200}
    path = store_url.removeprefix("sqlite:///")
    watcher = sqlite3.connect(path)
    try:
        (version,) = watcher.execute("PRAGMA data_version").fetchone()
        assert mirror(engine, changed, 300).empty
        assert watcher.execute("PRAGMA data_version").fetchone() == (version,)
    finally:
        watcher.close()
    assert rows(engine) == by_key


def test_an_older_store_gets_the_new_index_with_its_mirror(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_store_engine(url)
    migrate(old, target=12)
    mirror(old, FIRST, 100)  # through the old triggers and the old index
    old.dispose()
    engine = open_store(url)
    try:
        assert found(engine, "bjork") == [1, 2, 3, 4]
        index_is_sound(engine)
        with engine.connect() as conn:  # 8 MiB of pending terms per index flush
            assert conn.exec_driver_sql("SELECT v FROM library_fts_config"
                                        " WHERE k = 'hashsize'").scalar() == 8388608
        mirror(engine, FIRST[1:], 200)
        assert found(engine, "human") == []
        assert found(engine, "bjork") == [2, 3, 4]
        index_is_sound(engine)
    finally:
        engine.dispose()


def test_the_staging_is_discarded_at_once_and_the_connection_kept(engine: Engine) -> None:
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.execute("PRAGMA temp_store = MEMORY")  # whatever the connection had, it keeps
        with conn.begin():
            library_store.stage_tracks(conn, SECTION, FIRST, 100)
        conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            library_store.apply_staged(conn, SECTION, 100)
            library_store.discard_staged(conn)  # not inside a transaction
        assert raw.execute("SELECT count(*) FROM temp.sqlite_master").fetchone() == (2,)
        library_store.discard_staged(conn)
        assert raw.execute("SELECT count(*) FROM temp.sqlite_master").fetchone() == (0,)
        assert raw.execute("PRAGMA temp_store").fetchone() == (2,)
        assert conn.exec_driver_sql("SELECT count(*) FROM library_tracks").scalar() == 5


def test_an_in_memory_store_keeps_its_mirror_across_refreshes() -> None:
    from daemon.plex.library import LibrarySource
    from daemon.reconcile import jobs as reconcile

    class Listing:
        def section_id(self) -> int:
            return SECTION

        def tracks(self) -> Iterator[LibraryTrack]:
            return iter(FIRST)

    source: LibrarySource = Listing()
    engine = open_store("sqlite://")
    try:
        assert reconcile.refresh_library(source, engine, rematch=lambda d: {})["added"] == 5
        again = reconcile.refresh_library(source, engine, rematch=lambda d: {})
        assert (again["added"], again["changed"], again["removed"]) == (0, 0, 0)
        assert found(engine, "bjork") == [1, 2, 3, 4]
    finally:
        engine.dispose()
