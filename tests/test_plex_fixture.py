"""Tests of the Plex fixture: library generator, DB builder (ICU/FTS traps), fake Plex server."""

from __future__ import annotations

import re
import selectors
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from plexapi.exceptions import Unauthorized
from plexapi.server import PlexServer

from tests.fakes.plex_db import (
    PLEX_DB_RELATIVE_PATH,
    NativePlays,
    PlexDb,
    build_plex_db,
    local_timestamp,
    plex_db_path_layout,
)
from tests.fakes.plex_library_gen import (
    ALL_CASES_MIN_TRACKS,
    KIND_COMPILATION,
    KIND_DELUXE,
    KIND_STUDIO,
    VARIOUS_ARTISTS,
    Library,
    generate_library,
)
from tests.fakes.plex_server import FakePlexServer, FakeSession

ROOT = Path(__file__).resolve().parent.parent
N_TRACKS = 400
SECTION_ID = 3
NOW = 1_760_000_000
ACCOUNTS = [(1, "owner"), (2, "guest")]
PLEX_GUID = re.compile(r"^plex://(track|album|artist)/[0-9a-f]{24}$")
MBID_TAG = re.compile(r"^mbid://[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(N_TRACKS, seed=7)


@pytest.fixture(scope="module")
def plex_db(library: Library, tmp_path_factory: pytest.TempPathFactory) -> PlexDb:
    """One shared, never-modified fixture DB (tests that write build their own)."""
    root = tmp_path_factory.mktemp("pms")
    return build_plex_db(plex_db_path_layout(root), library, section_id=SECTION_ID,
                         accounts=ACCOUNTS,
                         native_plays=NativePlays(fraction=0.3, accounts=(1, 2)))


@pytest.fixture
def small_db(tmp_path: Path) -> PlexDb:
    """A fresh small DB per test, for tests that write to it."""
    lib = generate_library(ALL_CASES_MIN_TRACKS, seed=2)
    return build_plex_db(tmp_path / "plex.db", lib, native_plays=NativePlays(fraction=0.2))


@pytest.fixture
def fake(plex_db: PlexDb) -> Iterator[FakePlexServer]:
    with FakePlexServer(plex_db.path, clock=lambda: NOW, butler_start_hour=1,
                        butler_end_hour=4) as server:
        yield server


def _connect(db: PlexDb) -> sqlite3.Connection:
    conn = sqlite3.connect(db.path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _scalar(db: PlexDb, sql: str, *args: object) -> object:
    conn = _connect(db)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


# --- (a) generator and DB contents --------------------------------------------------------------


def test_generator_is_deterministic_and_smaller_libraries_are_prefixes() -> None:
    big = generate_library(600, seed=11)
    assert generate_library(600, seed=11) == big
    small = generate_library(250, seed=11)
    assert small.tracks == big.tracks[:250]
    assert generate_library(600, seed=12).tracks != big.tracks
    assert len(generate_library(0).tracks) == 0


def test_generator_makes_every_realistic_case(library: Library) -> None:
    titles = [t.title for t in library.tracks]
    artists = {a.title for a in library.artists}
    albums = {a.title for a in library.albums}
    assert {"Sigur Rós", "Beyoncé", "Motörhead", VARIOUS_ARTISTS} <= artists
    assert any(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", a) for a in artists)  # Japanese
    assert any(re.search(r"[\u0400-\u04ff]", a) for a in artists)  # Cyrillic
    assert any(re.search(r"[\u0370-\u03ff]", a) for a in artists)  # Greek
    assert any(re.search(r"\(\d{4} Remaster\)$", a) for a in albums)
    assert any(re.search(r" - Remastered \d{4}$", t) for t in titles)
    assert any(a.startswith("Live at ") for a in albums)
    assert any(re.search(r"\((Deluxe|Expanded|Super Deluxe)", a) for a in albums)
    assert any("(feat. " in t for t in titles)
    assert any(t.original_title and " feat. " in t.original_title for t in library.tracks)
    assert any(t.disc == 2 for t in library.tracks)
    compilation = [t for t in library.tracks if library.album_of(t).kind == KIND_COMPILATION]
    assert compilation
    assert all(library.artist_of(t).title == VARIOUS_ARTISTS and t.original_title
               for t in compilation)
    # the same song on its album, a deluxe edition and a compilation, one recording mbid
    for song in {t.song_key for t in compilation}:
        kinds = {library.album_of(t).kind for t in library.tracks_of_song(song)}
        if {KIND_STUDIO, KIND_DELUXE} <= kinds:
            editions = library.tracks_of_song(song)
            assert len({t.mbid for t in editions}) == 1
            assert len({t.guid for t in editions}) == len(editions)
            break
    else:
        pytest.fail("no song on album + deluxe + compilation")


def test_large_library_has_local_guids_and_realistic_rates() -> None:
    lib = generate_library(20_000, seed=3)
    guids = [t.guid for t in lib.tracks]
    assert len(set(guids)) == len(guids)
    local = [t for t in lib.tracks if t.guid.startswith("local://")]
    assert local
    assert all(t.guid == f"local://{t.id}" and t.mbid is None for t in local)
    assert all(PLEX_GUID.match(t.guid) for t in lib.tracks if t not in local)
    with_mbid = sum(1 for t in lib.tracks if t.mbid) / len(lib.tracks)
    assert 0.7 < with_mbid < 0.95
    assert 0.01 < sum(1 for t in lib.tracks if t.original_title) / len(lib.tracks) < 0.2
    assert all(0 < t.duration_ms < 2_000_000 and t.index >= 1 for t in lib.tracks)


def test_db_counts_and_structure(plex_db: PlexDb, library: Library) -> None:
    assert plex_db.path.as_posix().endswith(PLEX_DB_RELATIVE_PATH.as_posix())
    conn = _connect(plex_db)
    try:
        by_type = dict(conn.execute("SELECT metadata_type, COUNT(*) FROM metadata_items "
                                    "WHERE library_section_id = ? GROUP BY 1", (SECTION_ID,)))
        assert by_type == {8: len(library.artists), 9: len(library.albums), 10: N_TRACKS}
        section = conn.execute("SELECT * FROM library_sections").fetchone()
        assert (section["id"], section["name"], section["section_type"], section["agent"]) == (
            SECTION_ID, "Music", 8, "tv.plex.agents.music")
        assert conn.execute("SELECT root_path FROM section_locations").fetchone()[0] == "/music"
        accounts = conn.execute("SELECT id, name FROM accounts ORDER BY id").fetchall()
        assert [tuple(a) for a in accounts] == ACCOUNTS
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        orphans = conn.execute(
            "SELECT COUNT(*) FROM metadata_items t LEFT JOIN metadata_items al ON al.id = "
            "t.parent_id LEFT JOIN metadata_items ar ON ar.id = al.parent_id WHERE "
            "t.metadata_type = 10 AND (al.metadata_type IS NOT 9 OR ar.metadata_type IS NOT 8)")
        assert orphans.fetchone()[0] == 0
        joined = conn.execute(
            "SELECT COUNT(*) FROM media_parts mp JOIN media_items mi ON mi.id = mp.media_item_id "
            "JOIN metadata_items t ON t.id = mi.metadata_item_id WHERE t.metadata_type = 10")
        assert joined.fetchone()[0] == N_TRACKS
        track = library.tracks[0]
        row = conn.execute('SELECT guid, title, "index", absolute_index, duration, parent_id, '
                           "original_title, typeof(added_at), (SELECT disc FROM "
                           "fixture_track_discs WHERE metadata_item_id = id) FROM metadata_items "
                           "WHERE id = ?", (track.id,)).fetchone()
        assert tuple(row) == (track.guid, track.title, track.index, None, track.duration_ms,
                              track.album_id, track.original_title, "integer", track.disc)
    finally:
        conn.close()


def test_mbids_are_guid_tags_shared_through_taggings(plex_db: PlexDb, library: Library) -> None:
    conn = _connect(plex_db)
    try:
        tags = conn.execute("SELECT tag FROM tags WHERE tag_type = 314").fetchall()
        assert tags
        assert all(MBID_TAG.match(t[0]) for t in tags)
        assert len(tags) == len({t[0] for t in tags})  # one row per distinct id
        shared = conn.execute(
            "SELECT tags.tag, COUNT(*) FROM taggings tg JOIN tags ON tags.id = tg.tag_id "
            "WHERE tags.tag_type = 314 GROUP BY tags.id HAVING COUNT(*) >= 3").fetchall()
        assert shared  # album + deluxe + compilation editions share one recording tag
        for track in library.tracks[:50]:
            got = [r[0] for r in conn.execute(
                "SELECT tags.tag FROM taggings tg JOIN tags ON tags.id = tg.tag_id "
                "WHERE tg.metadata_item_id = ? AND tags.tag_type = 314", (track.id,))]
            assert got == ([f"mbid://{track.mbid}"] if track.mbid else [])
    finally:
        conn.close()


def test_native_plays_fill_settings_and_views(plex_db: PlexDb, library: Library) -> None:
    assert plex_db.plays
    assert _scalar(plex_db, "SELECT COUNT(*) FROM metadata_item_views") == len(plex_db.plays)
    conn = _connect(plex_db)
    try:
        for account, _ in ACCOUNTS:
            expected = {library.track_by_id[k].guid: n
                        for k, n in plex_db.view_counts(account).items()}
            got = dict(conn.execute("SELECT guid, view_count FROM metadata_item_settings "
                                    "WHERE account_id = ?", (account,)).fetchall())
            assert got == expected
        view = conn.execute("SELECT * FROM metadata_item_views ORDER BY id LIMIT 1").fetchone()
        play = plex_db.plays[0]
        track = library.track_by_id[play.rating_key]
        assert (view["guid"], view["viewed_at"], view["title"], view["parent_title"],
                view["grandparent_title"], view["index"], view["metadata_type"]) == (
            track.guid, play.viewed_at, track.title, library.album_of(track).title,
            library.artist_of(track).title, track.index, 10)
    finally:
        conn.close()


def test_explicit_native_plays_and_validation(tmp_path: Path) -> None:
    lib = generate_library(30)
    rk = lib.tracks[3].id
    db = build_plex_db(tmp_path / "p.db", lib, accounts=(1, "me"),
                       native_plays=[(rk, 1, 1_700_000_000), (rk, 1, 1_700_000_100)])
    assert db.view_counts() == {rk: 2}
    assert _scalar(db, "SELECT last_viewed_at FROM metadata_item_settings") == 1_700_000_100
    with pytest.raises(ValueError, match="unknown track"):
        build_plex_db(tmp_path / "q.db", lib, native_plays=[(999_999, 1, 1)])
    with pytest.raises(ValueError, match="unknown account"):
        build_plex_db(tmp_path / "q.db", lib, native_plays=[(rk, 5, 1)])


# --- (b) ICU/FTS traps ---------------------------------------------------------------------------

FORBIDDEN = [
    ("INSERT INTO metadata_items (title, metadata_type) VALUES ('x', 10)",
     "no such collation sequence: icu_root"),
    ("UPDATE metadata_items SET title = 'x' WHERE metadata_type = 10",
     "unknown tokenizer: collating"),
    ("UPDATE metadata_items SET original_title = 'x'", "unknown tokenizer: collating"),
    ("DELETE FROM metadata_items WHERE metadata_type = 10", "icu_root|collating"),
    ("INSERT INTO tags (tag, tag_type) VALUES ('mbid://x', 314)", "unknown tokenizer: collating"),
    ("UPDATE tags SET tag = 'x'", "unknown tokenizer: collating"),
    ("PRAGMA integrity_check", "no such collation sequence: icu_root"),
]
ALLOWED = [
    "INSERT INTO metadata_item_settings (account_id, guid, view_count, last_viewed_at) "
    "VALUES (1, 'plex://track/x', 1, 1700000000)",
    "UPDATE metadata_item_settings SET view_count = view_count + 1, last_viewed_at = 1700000001",
    "DELETE FROM metadata_item_settings WHERE guid = 'plex://track/x'",
    "INSERT INTO metadata_item_views (account_id, guid, metadata_type, viewed_at) "
    "VALUES (1, 'plex://track/x', 10, 1700000000)",
    "UPDATE metadata_item_views SET viewed_at = viewed_at + 1",
    "DELETE FROM metadata_item_views WHERE guid = 'plex://track/x'",
    "UPDATE metadata_items SET updated_at = 1700000000 WHERE id = 2",  # 1.43 triggers: UPDATE OF
    "INSERT INTO taggings (metadata_item_id, tag_id) VALUES (2, 1)",
]


@pytest.mark.parametrize(("sql", "error"), FORBIDDEN)
def test_forbidden_writes_fail_like_on_a_real_server(small_db: PlexDb, sql: str,
                                                     error: str) -> None:
    conn = _connect(small_db)
    try:
        with pytest.raises(sqlite3.OperationalError, match=error):
            conn.execute(sql)
    finally:
        conn.close()


def test_settings_and_views_writes_work_and_reads_are_unaffected(small_db: PlexDb) -> None:
    conn = _connect(small_db)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for sql in ALLOWED:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute(
            "SELECT t.id, al.title, ar.title FROM metadata_items t JOIN metadata_items al ON "
            "al.id = t.parent_id JOIN metadata_items ar ON ar.id = al.parent_id WHERE "
            "t.metadata_type = 10 ORDER BY t.title_sort").fetchall()
        assert len(rows) == ALL_CASES_MIN_TRACKS
        backup = sqlite3.connect(":memory:")
        conn.backup(backup)  # the daemon's consistent backup works despite the Plex objects
        assert backup.execute("SELECT COUNT(*) FROM metadata_items").fetchone()[0] > 0
        backup.close()
    finally:
        conn.close()


def test_plex_only_objects_are_in_the_schema(small_db: PlexDb) -> None:
    conn = _connect(small_db)
    try:
        master = {r["name"]: (r["type"], r["sql"]) for r in
                  conn.execute("SELECT type, name, sql FROM sqlite_master")}
        triggers = [n for n, (kind, _) in master.items() if kind == "trigger"]
        assert sorted(triggers) == sorted(
            f"fts4_{t}_{w}_icu" for t in ("metadata_titles", "tag_titles")
            for w in ("after_insert", "after_update", "before_delete", "before_update"))
        for name in ("fts4_metadata_titles_icu", "fts4_tag_titles_icu"):
            assert "tokenize=collating 'root@colStrength=primary;colAlternate=shifted'" in \
                master[name][1]
        assert "COLLATE icu_root" in master["index_title_sort_icu"][1]
        assert "spellfix1" in master["spellfix_metadata_titles"][1]
        # the FTS index is populated like a real one (shadow tables are ordinary tables)
        assert conn.execute("SELECT COUNT(*) FROM fts4_metadata_titles_icu_docsize"
                            ).fetchone()[0] == _scalar(small_db, "SELECT COUNT(*) FROM "
                                                       "metadata_items")
    finally:
        conn.close()


def test_without_traps_metadata_items_is_writable(tmp_path: Path) -> None:
    db = build_plex_db(tmp_path / "p.db", generate_library(20), with_icu_traps=False)
    conn = _connect(db)
    try:
        conn.execute("INSERT INTO metadata_items (title, metadata_type) VALUES ('x', 10)")
        conn.execute("INSERT INTO tags (tag, tag_type) VALUES ('x', 1)")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


# --- (c) legacy timestamps and the other shapes -------------------------------------------------


def test_2020_shape_has_naturalsort_traps_and_pre_2025_accounts(tmp_path: Path) -> None:
    db = build_plex_db(tmp_path / "p.db", generate_library(40, seed=6), shape="2020")
    conn = _connect(db)
    try:
        ddl = {r[0]: r[1] for r in conn.execute("SELECT name, sql FROM sqlite_master")}
        assert "COLLATE naturalsort" in ddl["index_title_sort_naturalsort"]
        assert "fts4_metadata_titles_icu" not in ddl
        assert "hashed_password" in ddl["accounts"]
        assert "last_rated_at" not in ddl["metadata_item_settings"]
        assert conn.execute("SELECT max(version) FROM schema_migrations WHERE version NOT "
                            "LIKE '5%'").fetchone()[0] == "20200224131300"
        assert conn.execute("SELECT count(*) FROM fts4_metadata_titles WHERE "
                            "fts4_metadata_titles MATCH 'a*'").fetchone()[0] > 0
        with pytest.raises(sqlite3.OperationalError, match="collation sequence: naturalsort"):
            conn.execute("INSERT INTO metadata_items (title, title_sort) VALUES ('x', 'x')")
        conn.execute("INSERT INTO metadata_item_views (guid, viewed_at) VALUES ('g', "
                     "'2020-01-01 00:00:00')")
    finally:
        conn.close()



def test_legacy_db_uses_local_time_strings_and_2021_ddl(tmp_path: Path) -> None:
    lib = generate_library(60, seed=5)
    db = build_plex_db(tmp_path / "p.db", lib, legacy_timestamps=True,
                       native_plays=NativePlays(fraction=0.5))
    conn = _connect(db)
    try:
        ddl = {r[0]: r[1] for r in conn.execute("SELECT name, sql FROM sqlite_master "
                                                "WHERE type = 'table'")}
        assert '"viewed_at" datetime' in ddl["metadata_item_views"]
        assert "view_type" not in ddl["metadata_item_views"]
        assert '"last_viewed_at" datetime' in ddl["metadata_item_settings"]
        assert "dt_integer" not in "".join(ddl.values())
        types = conn.execute("SELECT DISTINCT typeof(viewed_at) FROM metadata_item_views")
        assert [t[0] for t in types] == ["text"]
        first = conn.execute("SELECT viewed_at FROM metadata_item_views ORDER BY id").fetchone()
        assert first[0] == local_timestamp(db.plays[0].viewed_at)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", first[0])
        assert conn.execute("SELECT typeof(added_at) FROM metadata_items LIMIT 1"
                            ).fetchone()[0] == "text"
        with pytest.raises(sqlite3.OperationalError, match="unknown tokenizer"):
            conn.execute("UPDATE metadata_items SET added_at = added_at")  # 2021 triggers
    finally:
        conn.close()
    with FakePlexServer(db.path) as server:
        tracks = PlexServer(server.url, server.token).library.section("Music").searchTracks()
    last = {p.rating_key: p.viewed_at for p in db.plays}  # plays are sorted by time
    played = [t for t in tracks if t.ratingKey in last]
    assert played
    assert all(int(t.lastViewedAt.timestamp()) == last[t.ratingKey] for t in played)
    assert all(t.viewCount == db.view_counts()[t.ratingKey] for t in played)


# --- (d) plexapi through the fake server ---------------------------------------------------------


def test_plexapi_lists_every_track_with_attributes(fake: FakePlexServer, plex_db: PlexDb,
                                                   library: Library) -> None:
    plex = PlexServer(fake.url, fake.token)
    section = plex.library.section("music")
    assert (section.key, section.type, section.locations) == (SECTION_ID, "artist",
                                                              ["/music"])
    tracks = section.searchTracks()
    assert [t.ratingKey for t in tracks] == [t.id for t in library.tracks]
    counts = plex_db.view_counts(1)
    last = {p.rating_key: p.viewed_at for p in plex_db.plays if p.account_id == 1}
    for got in tracks:
        want = library.track_by_id[got.ratingKey]
        assert type(got).__name__ == "Track"
        assert (got.title, got.parentTitle, got.grandparentTitle, got.guid, got.index,
                got.parentIndex, got.duration, got.librarySectionID) == (
            want.title, library.album_of(want).title, library.artist_of(want).title, want.guid,
            want.index, want.disc, want.duration_ms, SECTION_ID)
        assert got.parentRatingKey == want.album_id
        assert got.grandparentRatingKey == library.album_of(want).artist_id
        assert got.viewCount == counts.get(want.id, 0)
        if want.id in last:
            assert int(got.lastViewedAt.timestamp()) == last[want.id]
        if want.original_title:  # present in the listing, no reload needed
            assert got.originalTitle == want.original_title
        if want.mbid:
            assert [g.id for g in got.guids] == [f"mbid://{want.mbid}"]
    assert not [r for r in fake.requests if r.path.startswith("/library/metadata/")]


def test_autoreload_of_empty_attributes_hits_metadata_endpoint(fake: FakePlexServer,
                                                               library: Library) -> None:
    plex = PlexServer(fake.url, fake.token)
    plain = next(t for t in library.tracks if not t.original_title and not t.mbid)
    track = plex.library.section("Music").searchTracks(title=plain.title)
    track = next(t for t in track if t.ratingKey == plain.id)
    assert track.originalTitle is None  # reloaded, still empty
    assert track.guids == []
    reloads = [r for r in fake.requests if r.path == f"/library/metadata/{plain.id}"]
    assert len(reloads) == 1


def test_paging_with_headers_and_query_params(fake: FakePlexServer) -> None:
    plex = PlexServer(fake.url, fake.token)
    section = plex.library.section("Music")
    tracks = section.searchTracks(container_size=37)
    assert len({t.ratingKey for t in tracks}) == N_TRACKS
    pages = [r for r in fake.requests if r.path.endswith("/all")]
    assert len(pages) == -(-N_TRACKS // 37)
    assert {r.headers["X-Plex-Container-Size"] for r in pages} == {"37"}
    assert all(r.token_via == "header" for r in fake.requests)
    assert section.totalViewSize(libtype="track") == N_TRACKS
    response = requests.get(f"{fake.url}/library/sections/{SECTION_ID}/all",
                            params={"type": 10, "X-Plex-Container-Start": 5,
                                    "X-Plex-Container-Size": 3},
                            headers={"X-Plex-Token": fake.token}, timeout=5)
    body = response.text
    assert response.status_code == 200
    assert 'totalSize="400"' in body
    assert 'offset="5"' in body
    assert body.count("<Track ") == 3
    assert len(section.albums()) == _scalar_albums(fake)


def _scalar_albums(fake: FakePlexServer) -> int:
    conn = sqlite3.connect(fake.db_path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM metadata_items WHERE metadata_type = 9"
                                ).fetchone()[0])
    finally:
        conn.close()


def test_mark_played_uses_overlay_and_never_writes_db(fake: FakePlexServer, plex_db: PlexDb,
                                                      library: Library) -> None:
    before = plex_db.path.read_bytes()
    never = next(t for t in library.tracks if t.id not in plex_db.view_counts())
    track = PlexServer(fake.url, fake.token).fetchItem(never.id)
    assert track.viewCount == 0
    assert not track.isPlayed
    track.markPlayed()
    track.markPlayed()
    track.reload()
    assert track.viewCount == 2
    assert int(track.lastViewedAt.timestamp()) == NOW
    track.markUnplayed()
    track.reload()
    assert track.viewCount == 0
    assert track.lastViewedAt is None
    assert [(c.action, c.rating_key, c.account_id) for c in fake.scrobble_calls] == [
        ("scrobble", never.id, 1), ("scrobble", never.id, 1), ("unscrobble", never.id, 1)]
    assert fake.scrobble_calls[0].identifier == "com.plexapp.plugins.library"
    assert plex_db.path.read_bytes() == before


def test_mark_played_writes_settings_when_enabled(small_db: PlexDb) -> None:
    track_id = small_db.library.tracks[0].id
    guid = small_db.library.tracks[0].guid
    views_before = _scalar(small_db, "SELECT COUNT(*) FROM metadata_item_views")
    count_before = small_db.view_counts().get(track_id, 0)
    with FakePlexServer(small_db.path, scrobble_writes_db=True, unscrobble="decrement",
                        clock=lambda: NOW) as server:
        track = PlexServer(server.url, server.token).fetchItem(track_id)
        track.markPlayed()
        track.reload()
        assert track.viewCount == count_before + 1
        assert _scalar(small_db, "SELECT view_count FROM metadata_item_settings WHERE "
                       "account_id = 1 AND guid = ?", guid) == count_before + 1
        track.markUnplayed()
        track.reload()
        assert track.viewCount == count_before
    assert _scalar(small_db, "SELECT COUNT(*) FROM metadata_item_views") == views_before


def test_server_rereads_db_on_every_request(small_db: PlexDb) -> None:
    track = small_db.library.tracks[1]
    with FakePlexServer(small_db.path) as server:
        item = PlexServer(server.url, server.token).fetchItem(track.id)
        conn = _connect(small_db)
        try:
            conn.execute("DELETE FROM metadata_item_settings WHERE guid = ?", (track.guid,))
            conn.execute("INSERT INTO metadata_item_settings (account_id, guid, view_count, "
                         "last_viewed_at) VALUES (1, ?, 42, ?)", (track.guid, NOW))
        finally:
            conn.close()
        item.reload()
        assert item.viewCount == 42
        assert int(item.lastViewedAt.timestamp()) == NOW


def test_trashed_tracks_are_left_out_of_listings(tmp_path: Path) -> None:
    lib = generate_library(200, seed=4, trash_fraction=0.1)
    trashed = [t for t in lib.tracks if t.deleted_at is not None]
    assert trashed
    db = build_plex_db(tmp_path / "p.db", lib)
    with FakePlexServer(db.path) as server:
        plex = PlexServer(server.url, server.token)
        section = plex.library.section("Music")
        listed = {t.ratingKey for t in section.searchTracks(container_size=50)}
        assert listed == {t.id for t in lib.tracks if t.deleted_at is None}
        assert section.totalViewSize(libtype="track") == len(listed)
        item = plex.fetchItem(trashed[0].id)  # still reachable by key, like PMS's trash
        assert item.title == trashed[0].title


def test_wrong_token_is_unauthorized(fake: FakePlexServer) -> None:
    with pytest.raises(Unauthorized):
        PlexServer(fake.url, "not-the-token")
    response = requests.get(f"{fake.url}/library/sections", timeout=5)
    assert response.status_code == 401
    ok = requests.get(f"{fake.url}/library/sections", params={"X-Plex-Token": fake.token},
                      timeout=5)
    assert ok.status_code == 200
    assert fake.requests[-1].token_via == "query"


def test_sessions_history_accounts_and_prefs(fake: FakePlexServer, plex_db: PlexDb,
                                             library: Library) -> None:
    plex = PlexServer(fake.url, fake.token)
    assert plex.sessions() == []
    playing = library.tracks[10]
    fake.set_sessions([FakeSession(playing.id, view_offset_ms=30_000)])
    (session,) = plex.sessions()
    assert (session.ratingKey, session.title, session.usernames, session.player.state,
            session.viewOffset) == (playing.id, playing.title, ["owner"], "playing", 30_000)
    history = plex.history()
    assert len(history) == len(plex_db.plays)
    assert [int(h.viewedAt.timestamp()) for h in history] == sorted(
        (p.viewed_at for p in plex_db.plays), reverse=True)
    guest = plex.history(accountID=2)
    assert len(guest) == sum(1 for p in plex_db.plays if p.account_id == 2)
    one = plex_db.plays[0]
    mine = plex.history(ratingKey=one.rating_key)
    assert {h.ratingKey for h in mine} == {one.rating_key}
    middle = sorted(p.viewed_at for p in plex_db.plays)[len(plex_db.plays) // 2]
    recent = plex.history(mindate=datetime.fromtimestamp(middle, tz=UTC))
    assert len(recent) == sum(1 for p in plex_db.plays if p.viewed_at > middle)
    assert [(a.id, a.name) for a in plex.systemAccounts()] == ACCOUNTS
    assert (plex.settings.get("ButlerStartHour").value,
            plex.settings.get("ButlerEndHour").value) == (1, 4)


def test_runnable_prints_url_and_stops_on_sigterm(small_db: PlexDb) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.plex_server", "--db", str(small_db.path),
         "--port", "0", "--token", "T0K"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=15), "no 'listening on' line before the deadline"
        line = proc.stdout.readline().strip()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        assert PlexServer(match.group(1), "T0K").friendlyName == "fake-pms"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
