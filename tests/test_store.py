"""The store: WAL, migrations from every historical version, tables matching migrations."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import jobruns, tracks
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import create_store_engine, open_store
from daemon.store.migrations import MIGRATIONS, migrate
from daemon.store.tables import metadata


def test_store_is_wal_with_busy_timeout(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000


# indexes on expressions, which SQLAlchemy can neither declare in tables/ nor reflect
EXPRESSION_INDEXES = {"matches": {"ix_matches_queued_top_score"}}  # migration 8


def test_migrated_schema_matches_the_table_definitions(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
        with engine.connect() as conn:  # sqlite_master: expression indexes too (no warning)
            indexes = set(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND"
                " sql IS NOT NULL", (table.name,)).scalars())  # sql NULL: SQLite's own
        expected = {i.name for i in table.indexes} | EXPRESSION_INDEXES.get(table.name, set())
        assert indexes == expected, table.name


def test_every_older_store_upgrades_without_losing_data(tmp_path: Path) -> None:
    for version in range(1, len(MIGRATIONS) + 1):
        url = f"sqlite:///{tmp_path / f'v{version}.db'}"
        old = create_store_engine(url)
        migrate(old, target=version)
        with old.begin() as conn:
            scrobble_queries.insert_rows(
                conn, "alice", with_ordinals([Scrobble(100, "A", "T", "Al")]), "lastfm"
            )
        old.dispose()
        upgraded = open_store(url)
        with upgraded.connect() as conn:
            assert scrobble_queries.stats(conn).scrobbles == 1
            latest = conn.exec_driver_sql("SELECT max(version) FROM schema_migrations").scalar()
        assert latest == MIGRATIONS[-1].version
        upgraded.dispose()


def test_a_store_opened_while_another_process_creates_it_waits_for_its_lock(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`plexfm status` started beside a first `plexfm run` (CI saw the service exit with
    "database is locked"): switching a new file to WAL while another connection holds its
    write lock fails at once, without SQLite's busy handler; opening waits for it."""
    path = tmp_path / "plexfm.db"
    other = sqlite3.connect(path, isolation_level=None)  # a new file: rollback journal
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE being_created (x)")
    opened: list[Engine] = []
    failed: list[BaseException] = []

    def open_it() -> None:
        try:
            opened.append(open_store(f"sqlite:///{path}"))
        except BaseException as exc:  # reported below
            failed.append(exc)

    caplog.set_level(logging.DEBUG, logger="daemon.store.engine")
    opener = threading.Thread(target=open_it)
    opener.start()
    deadline = time.monotonic() + 10
    while not failed and "locked while switching" not in caplog.text:
        assert time.monotonic() < deadline, "the opener neither waited nor failed"
        time.sleep(0.005)
    other.execute("COMMIT")
    other.close()
    opener.join(timeout=20)
    assert not failed, failed
    [engine] = opened
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("SELECT count(*) FROM schema_migrations").scalar() == \
            len(MIGRATIONS)
    engine.dispose()


def test_opening_twice_applies_nothing(store_url: str) -> None:
    first = open_store(store_url)
    assert migrate(first) == []
    first.dispose()


def test_insert_dedupes_by_identity_and_keeps_repeats(engine: Engine) -> None:
    play = Scrobble(1000, "Artist", "Title", "Album", "a-mbid", "t-mbid", "al-mbid", 1)
    with engine.begin() as conn:
        assert scrobble_queries.insert_rows(conn, "alice", with_ordinals([play, play]), "x") == 2
        assert scrobble_queries.insert_rows(conn, "alice", with_ordinals([play, play]), "x") == 0
        assert scrobble_queries.insert_rows(conn, "bob", with_ordinals([play]), "x") == 1
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT artist_mbid, track_mbid, album_mbid, loved FROM scrobbles LIMIT 1"
        )).one()
        assert tuple(row) == ("a-mbid", "t-mbid", "al-mbid", 1)
        assert scrobble_queries.count_between(conn, "alice", 1000, 1001) == 2
        assert scrobble_queries.count_between(conn, "alice", 0, 1000) == 0


def test_job_runs_latest_per_job(engine: Engine) -> None:
    with engine.begin() as conn:
        first = jobruns.start(conn, "pull", "manual", 1.0)
        jobruns.finish(conn, first, 2.0, "error", {}, "boom")
        second = jobruns.start(conn, "pull", "schedule", 3.0)
        jobruns.finish(conn, second, 4.0, "ok", {"added": 3}, None)
        other = jobruns.start(conn, "import", "manual", 5.0)
    with engine.connect() as conn:
        latest = jobruns.latest(conn)
    assert latest["pull"].id == second
    assert latest["pull"].counts == {"added": 3}
    assert latest["import"].id == other
    assert latest["import"].outcome == "running"


def _mapping(engine: Engine) -> list[tuple[int, str, str, int]]:
    with engine.connect() as conn:
        return [(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in conn.exec_driver_sql(
            "SELECT st.scrobble_id, t.artist, st.user, st.uts FROM scrobble_tracks st"
            " JOIN scrobbled_tracks t ON t.id = st.track_id ORDER BY st.scrobble_id")]


def _schema(engine: Engine, table: str = "scrobble_tracks") -> list[tuple[str, str]]:
    """The DDL of `table` and of its indexes and triggers."""
    with engine.connect() as conn:
        return [(str(r[0]), str(r[1])) for r in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name", (table,))]


def test_a_large_fold_rebuilds_the_map_indexes_and_maps_every_scrobble(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = _schema(engine)
    monkeypatch.setattr(tracks, "REBUILD_MIN_ROWS", 3)  # this fold is "large", the next not
    first = [Scrobble(100 + i, f"A{i % 3}", "T", "Al") for i in range(6)]
    later = [Scrobble(200, "A1", "T", "Al"), Scrobble(201, "New", "T", "Al")]
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(first), "x")
        assert tracks.fold_new_scrobbles(conn) == 6
        scrobble_queries.insert_rows(conn, "bob", with_ordinals(later), "x")
        assert tracks.fold_new_scrobbles(conn) == 2
        plays = {str(a): int(n) for a, n in conn.exec_driver_sql(
            "SELECT artist, plays FROM scrobbled_tracks")}
        query = "EXPLAIN QUERY PLAN SELECT * FROM scrobble_tracks WHERE track_id = 1"
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(query))
    assert _schema(engine) == schema  # the index is back, exactly as the migration made it
    assert "ix_scrobble_tracks_track" in plan
    assert plays == {"A0": 2, "A1": 3, "A2": 2, "New": 1}
    expected = [(i + 1, f"A{i % 3}", "alice", 100 + i) for i in range(6)]
    assert _mapping(engine) == [*expected, (7, "A1", "bob", 200), (8, "New", "bob", 201)]


def test_a_large_fold_indexes_its_new_tracks_for_search_and_restores_the_schema(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large fold sets the search trigger and secondary indexes aside: the new tracks are
    searchable after it, the old ones still are, and trigger and indexes are back."""
    schema = _schema(engine, "scrobbled_tracks")
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(
            [Scrobble(100, "Old Band", "First Song", "Al")]), "x")
        tracks.fold_new_scrobbles(conn)
    monkeypatch.setattr(tracks, "REBUILD_MIN_ROWS", 3)
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(
            [Scrobble(200 + i, f"Band{i % 3}", f"Song{i % 3}", "Al") for i in range(6)]
            + [Scrobble(300, "Old Band", "First Song", "Al")]), "x")
        assert tracks.fold_new_scrobbles(conn) == 7
        found = {str(a) for a, in conn.exec_driver_sql(
            "SELECT t.artist FROM scrobbled_fts f JOIN scrobbled_tracks t ON t.id = f.rowid"
            " WHERE scrobbled_fts MATCH 'band*'")}
        fts_rows = conn.exec_driver_sql("SELECT count(*) FROM scrobbled_fts").scalar()
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM scrobbled_tracks WHERE album = 'Al'"))
    assert found == {"Band0", "Band1", "Band2", "Old Band"}
    assert fts_rows == 4
    assert _schema(engine, "scrobbled_tracks") == schema
    assert "ix_scrobbled_tracks_album" in plan
    with engine.begin() as conn:  # the trigger is back: a small fold indexes by it
        scrobble_queries.insert_rows(conn, "bob", with_ordinals(
            [Scrobble(400, "Later Band", "Song", "")]), "x")
        tracks.fold_new_scrobbles(conn)
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM scrobbled_fts WHERE scrobbled_fts MATCH 'later'").scalar() == 1


def test_saved_alternatives_and_suggestions_are_the_json_they_always_were(
    engine: Engine,
) -> None:
    """save_decisions writes the lists itself (no json.dumps per decision): the stored text
    is what json.dumps made, and reads back as the same lists."""
    import json

    from daemon.store import matches

    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals([
            Scrobble(1_600_000_000 + n, f"A{n}", "T", "") for n in range(3)]), "test")
        tracks.fold_new_scrobbles(conn)
        ids = [int(i) for i, in conn.exec_driver_sql("SELECT id FROM scrobbled_tracks ORDER BY id")]
        given = [((), ()), ((7,), ((5, 90),)), ((7, 12345, 3), ((5, 90), (6, 100), (70000, 41)))]
        matches.save_decisions(conn, [
            matches.Decision(t, "queued", None, reason="close title", alternatives=alt,
                             suggestions=sug) for t, (alt, sug) in zip(ids, given, strict=True)
        ], "auto")
        stored = conn.exec_driver_sql(
            "SELECT alternatives, suggestions FROM matches ORDER BY track_id").all()
    for (alternatives, suggestions), (alt, sug) in zip(stored, given, strict=True):
        assert alternatives == json.dumps(list(alt))
        assert suggestions == json.dumps([list(s) for s in sug])
        assert json.loads(suggestions) == [list(s) for s in sug]


@pytest.mark.parametrize("size", [1, 31, 32, 33, 64, 100])
def test_rows_are_stored_in_order_whatever_the_batch_size(engine: Engine, size: int) -> None:
    plays = [Scrobble(1_700_000_000 - i // 3, f"A{i % 5}", "T", "", "am", "tm", "alm", i % 2)
             for i in range(size)]
    rows = with_ordinals(plays)
    with engine.begin() as conn:
        assert scrobble_queries.insert_rows(conn, "alice", rows[: size // 2], "x") == size // 2
        assert scrobble_queries.insert_rows(conn, "alice", rows, "x",
                                            clock=lambda: 1_700_000_000) == size - size // 2
        stored = conn.exec_driver_sql(
            "SELECT user, uts, artist, title, album, ordinal, artist_mbid, track_mbid,"
            " album_mbid, loved, source FROM scrobbles ORDER BY id").all()
    half = rows[: size // 2]
    assert [tuple(r) for r in stored] == [
        ("alice", *row, "x") for row in [*half, *rows[size // 2:]]]


def test_a_row_of_another_shape_is_refused(engine: Engine) -> None:
    rows = with_ordinals([Scrobble(100, "A", "T"), Scrobble(101, "B", "T")])
    with engine.begin() as conn, pytest.raises(ValueError, match="9 fields"):
        scrobble_queries.insert_rows(conn, "alice", [*rows, rows[0][:8]], "x")  # type: ignore[list-item]


@pytest.mark.parametrize(("offset", "merged"), [
    (-180, True), (180, True), (-181, False), (181, False), (0, True)])
def test_another_sources_play_is_merged_up_to_the_tolerance_edge(
    engine: Engine, offset: int, merged: bool
) -> None:
    from daemon.store import merge

    base = 1_700_000_000
    with engine.begin() as conn:
        theirs = with_ordinals([Scrobble(base + offset, "The Artist", "Song")])
        assert merge.store_plays(conn, "alice", theirs, "import:spotify").added == 1
        ours = with_ordinals([Scrobble(base, "artist", "song (feat. Somebody)")])
        stored = merge.store_plays(conn, "alice", ours, "lastfm")
        assert (stored.added, stored.merged) == ((0, 1) if merged else (1, 0))
        again = merge.store_plays(conn, "alice", ours, "lastfm")
        assert (again.added, again.merged, again.already) == (0, 0, 1)
