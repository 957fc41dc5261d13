"""The read-only library view: the DB file and the HTTP API give the same, correct mirror."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import sqlite3
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.errors import PlexError
from daemon.plex import DatabaseLibrary, HttpLibrary, LibrarySource, LibraryTrack, readonly
from daemon.plex.discs import ServerDiscs
from tests.fakes.plex_db import PlexDb, build_plex_db, plex_db_path_layout
from tests.fakes.plex_library_gen import VARIOUS_ARTISTS, Library, generate_library
from tests.fakes.plex_server import FakePlexServer

N_TRACKS = 300
SEED = 1
SECTION_ID = 3
TOKEN = "fixture-token-7f3a"
WRONG_TOKEN = "wrong-secret-token-9c1e"


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(N_TRACKS, seed=SEED, trash_fraction=0.05)


@pytest.fixture(scope="module")
def plex_db(library: Library, tmp_path_factory: pytest.TempPathFactory) -> PlexDb:
    """Shared and never modified; tests that change a DB work on a copy."""
    root = tmp_path_factory.mktemp("pms") / "Plex Media Server"  # spaces, as in real life
    return build_plex_db(plex_db_path_layout(root), library, section_id=SECTION_ID)


@pytest.fixture(scope="module")
def db_tracks(plex_db: PlexDb) -> list[LibraryTrack]:
    return list(DatabaseLibrary(str(plex_db.path)).tracks())


@pytest.fixture
def fake(plex_db: PlexDb) -> Iterator[FakePlexServer]:
    """A fresh server per test, so its request log is this test's alone."""
    with FakePlexServer(plex_db.path, token=TOKEN) as server:
        yield server


def expected_tracks(lib: Library, *, discs: bool = True) -> list[LibraryTrack]:
    """The generator's ground truth, as a mirror must report it (trashed tracks left out);
    ``discs=False``: as the database alone reports it (no disc numbers)."""
    result = []
    for t in lib.tracks:
        if t.deleted_at is not None:
            continue
        album, artist = lib.album_of(t), lib.artist_of(t)
        result.append(LibraryTrack(
            rating_key=t.id, guid=t.guid, title=t.title,
            track_artist=t.original_title if t.original_title not in (None, artist.title)
            else "",
            album_artist=artist.title, album=album.title, album_year=album.year,
            track_number=t.index, disc_number=t.disc if discs else None,
            duration_ms=t.duration_ms,
            album_rating_key=album.id, artist_rating_key=artist.id, album_guid=album.guid,
            artist_guid=artist.guid, track_mbid=t.mbid or "", album_mbid=album.mbid or "",
            artist_mbid=artist.mbid or "", added_at=t.added_at,
            updated_at=t.added_at + 3600,  # the fixture's updated_at
        ))
    return result


def by_key(tracks: Iterator[LibraryTrack] | list[LibraryTrack]) -> list[LibraryTrack]:
    return sorted(tracks, key=lambda t: t.rating_key)


def digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def assert_one_line(exc: PlexError, *parts: str) -> None:
    message = str(exc)
    assert "\n" not in message
    for part in parts:
        assert part in message


# --- the database file ---------------------------------------------------------------------------


def test_db_mirror_is_the_generators_ground_truth(library: Library,
                                                  db_tracks: list[LibraryTrack]) -> None:
    assert db_tracks == expected_tracks(library, discs=False)
    # the comparison covers the cases that matter, not just easy rows
    assert any(t.album_artist == VARIOUS_ARTISTS and t.track_artist for t in db_tracks)
    assert any(t.track_artist and t.album_artist != VARIOUS_ARTISTS for t in db_tracks)
    assert any(t.track_mbid for t in db_tracks)
    assert any(not t.track_mbid for t in db_tracks)
    assert any(t.guid.startswith("local://") for t in db_tracks)
    assert any(not t.title.isascii() for t in db_tracks)


def test_db_never_takes_a_disc_number_from_absolute_index(db_copy: Path) -> None:
    """absolute_index is a collection's position in Plex (migration 20180324032400), not a
    disc: whatever it holds, the database alone gives no disc number."""
    conn = sqlite3.connect(db_copy)
    conn.execute("UPDATE metadata_items SET absolute_index = 7 WHERE metadata_type = 10")
    conn.commit()
    conn.close()
    assert {t.disc_number for t in DatabaseLibrary(str(db_copy)).tracks()} == {None}


def test_db_takes_disc_numbers_from_the_server(db_copy: Path, library: Library) -> None:
    with FakePlexServer(db_copy, token=TOKEN) as fake:  # its reads leave side files: a copy
        discs = ServerDiscs(fake.url, TOKEN, page_size=70)
        tracks = list(DatabaseLibrary(str(db_copy), discs=discs).tracks())
        listings = [r for r in fake.requests if r.path.endswith("/all")]
    assert tracks == expected_tracks(library)
    assert any(t.disc_number == 2 for t in tracks)
    assert len(listings) == math.ceil(len(library.tracks) / 70)


def test_db_without_the_server_leaves_discs_unknown(plex_db: PlexDb, library: Library,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    unreachable = ServerDiscs(f"http://127.0.0.1:{_free_port()}", WRONG_TOKEN, timeout=2)
    with caplog.at_level(logging.WARNING, logger="daemon.plex.library_db"):
        tracks = list(DatabaseLibrary(str(plex_db.path), discs=unreachable).tracks())
    assert tracks == expected_tracks(library, discs=False)
    assert "disc numbers unknown this time" in caplog.text
    assert WRONG_TOKEN not in caplog.text


def test_db_leaves_out_trashed_tracks(library: Library, db_tracks: list[LibraryTrack]) -> None:
    trashed = {t.id for t in library.tracks if t.deleted_at is not None}
    assert trashed
    assert not trashed & {t.rating_key for t in db_tracks}


def test_db_section_by_title_case_insensitive_or_first(plex_db: PlexDb) -> None:
    assert DatabaseLibrary(str(plex_db.path), "  mUSIC ").section_id() == SECTION_ID
    assert DatabaseLibrary(str(plex_db.path), "").section_id() == SECTION_ID
    source: LibrarySource = DatabaseLibrary(str(plex_db.path))
    assert source.section_id() == SECTION_ID


def test_db_reads_past_plex_icu_traps(plex_db: PlexDb, db_tracks: list[LibraryTrack]) -> None:
    conn = sqlite3.connect(f"file:{plex_db.path}?mode=ro&immutable=1", uri=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such collation sequence"):
            conn.execute("SELECT id FROM metadata_items ORDER BY title_sort COLLATE icu_root")
        with pytest.raises(sqlite3.OperationalError, match="unknown tokenizer"):
            conn.execute("SELECT * FROM fts4_metadata_titles_icu LIMIT 1")
    finally:
        conn.close()
    assert len(db_tracks) == len(expected_tracks(plex_db.library))


def test_db_legacy_timestamps(library: Library, tmp_path: Path, berlin_time: None) -> None:
    legacy = build_plex_db(tmp_path / "legacy.db", library, legacy_timestamps=True)
    raw = sqlite3.connect(legacy.path).execute(
        "SELECT typeof(added_at), added_at FROM metadata_items WHERE metadata_type = 10"
    ).fetchone()
    assert raw[0] == "text"
    assert len(raw[1]) == 19
    tracks = list(DatabaseLibrary(str(legacy.path)).tracks())
    assert tracks == expected_tracks(library, discs=False)
    with FakePlexServer(legacy.path, token=TOKEN) as fake:
        assert by_key(HttpLibrary(fake.url, TOKEN).tracks()) == expected_tracks(library)


def test_db_read_changes_nothing_and_leaves_no_wal(plex_db: PlexDb) -> None:
    path = plex_db.path
    assert path.read_bytes()[18:20] == b"\x02\x02"  # WAL mode, as PMS leaves it
    before, files = digest(path), sorted(os.listdir(path.parent))
    assert not any(name.endswith(("-wal", "-shm")) for name in files)
    source = DatabaseLibrary(str(path))
    assert len(list(source.tracks())) > 0
    assert digest(path) == before
    assert sorted(os.listdir(path.parent)) == files


def test_db_sees_what_a_running_plex_committed_to_its_wal(
        db_copy: Path, db_tracks: list[LibraryTrack]) -> None:
    victim = db_tracks[0].rating_key
    plex = sqlite3.connect(db_copy, isolation_level=None)  # stays open, like PMS
    try:
        plex.execute("UPDATE metadata_items SET deleted_at = 1751328000 WHERE id = ?", (victim,))
        assert Path(f"{db_copy}-wal").stat().st_size > 0
        before = digest(db_copy)
        keys = {t.rating_key for t in DatabaseLibrary(str(db_copy)).tracks()}
        assert victim not in keys
        assert digest(db_copy) == before
    finally:
        plex.close()


def test_db_busy_timeout_gives_one_line_error(db_copy: Path) -> None:
    conn = sqlite3.connect(db_copy, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PlexError) as err:
            DatabaseLibrary(str(db_copy), busy_timeout_ms=50)
        assert_one_line(err.value, str(db_copy), "locked")
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    assert DatabaseLibrary(str(db_copy)).section_id() == SECTION_ID


def test_db_reads_again_with_locks_if_the_file_changed_meanwhile(
        db_copy: Path, db_tracks: list[LibraryTrack], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    source = DatabaseLibrary(str(db_copy))
    real = readonly.file_state
    calls = 0

    def changing(path: Path) -> readonly.FileState:
        nonlocal calls
        calls += 1
        state = real(path)
        return state._replace(mtime_ns=state.mtime_ns + calls)  # a write on every look

    monkeypatch.setattr(readonly, "file_state", changing)
    with caplog.at_level(logging.INFO, logger="daemon.plex.readonly"):
        assert list(source.tracks()) == db_tracks
    assert "reading again with locks" in caplog.text


def test_db_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "library.db"
    with pytest.raises(PlexError) as err:
        DatabaseLibrary(str(path))
    assert_one_line(err.value, str(path), "not found")


def test_db_not_a_plex_db(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("hello\n" * 50)
    with pytest.raises(PlexError) as err:
        DatabaseLibrary(str(text))
    assert_one_line(err.value, str(text), "not a Plex database")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE scrobbles (id INTEGER)").connection.close()
    with pytest.raises(PlexError) as err:
        DatabaseLibrary(str(other))
    assert_one_line(err.value, str(other), "not a Plex database")


def test_db_wrong_section(db_copy: Path) -> None:
    conn = sqlite3.connect(db_copy)
    conn.execute("INSERT INTO library_sections (id, name, section_type) VALUES (9, 'Films', 1)")
    conn.commit()
    conn.close()
    with pytest.raises(PlexError) as err:
        DatabaseLibrary(str(db_copy), "Podcasts")
    assert_one_line(err.value, str(db_copy), "'Podcasts'", "'Music'")
    with pytest.raises(PlexError) as err:
        DatabaseLibrary(str(db_copy), "films")
    assert_one_line(err.value, "'films'", "not a music section")


# --- over HTTP -----------------------------------------------------------------------------------


def test_both_sources_give_identical_mirrors(fake: FakePlexServer,
                                             db_tracks: list[LibraryTrack]) -> None:
    http = HttpLibrary(fake.url, TOKEN)
    assert http.section_id() == SECTION_ID
    both = DatabaseLibrary(str(fake.db_path), discs=ServerDiscs(fake.url, TOKEN))
    assert by_key(http.tracks()) == list(both.tracks())


def test_http_pages_without_per_track_requests(fake: FakePlexServer, plex_db: PlexDb,
                                               db_tracks: list[LibraryTrack]) -> None:
    page = 37
    lib = plex_db.library
    assert by_key(HttpLibrary(fake.url, TOKEN, page_size=page).tracks()) == expected_tracks(lib)
    listings = [r for r in fake.requests if r.path.endswith("/all")]
    pages = {kind: math.ceil(n / page) for kind, n in
             (("8", len(lib.artists)), ("9", len(lib.albums)), ("10", len(db_tracks)))}
    assert {kind: sum(r.params["type"] == kind for r in listings) for kind in pages} == pages
    assert all(r.headers["X-Plex-Container-Size"] == str(page) for r in listings)
    assert all(r.params.get("includeGuids") == "1" for r in listings)
    assert not [r for r in fake.requests if r.path.startswith("/library/metadata")]
    assert len(fake.requests) == 3 + sum(pages.values())  # /, /library, /library/sections


def test_http_default_page_is_one_request_per_listing(fake: FakePlexServer) -> None:
    tracks = list(HttpLibrary(fake.url, TOKEN).tracks())
    assert len(tracks) < 1000
    assert len(fake.requests) == 6


def test_http_wrong_token_never_shows_the_token(fake: FakePlexServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(PlexError) as err:
        HttpLibrary(fake.url, WRONG_TOKEN)
    assert_one_line(err.value, fake.url, "401")
    assert err.value.__cause__ is None
    assert err.value.__suppress_context__
    assert WRONG_TOKEN not in "".join(traceback.format_exception(err.value))
    assert WRONG_TOKEN not in caplog.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_unreachable_server() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(PlexError) as err:
        HttpLibrary(url, TOKEN, timeout=2)
    assert_one_line(err.value, url, "cannot connect")


def test_http_section_choice(fake: FakePlexServer) -> None:
    assert HttpLibrary(fake.url, TOKEN, "MUSIC").section_id() == SECTION_ID
    assert HttpLibrary(fake.url, TOKEN, "").section_id() == SECTION_ID
    with pytest.raises(PlexError) as err:
        HttpLibrary(fake.url, TOKEN, "Podcasts")
    assert_one_line(err.value, fake.url, "'Podcasts'", "'Music'")
    with pytest.raises(ValueError, match="page_size"):
        HttpLibrary(fake.url, TOKEN, page_size=0)


def test_a_disc_number_never_changes_a_match_decision(tmp_path: Path, engine: Engine) -> None:
    from daemon.reconcile import jobs as reconcile
    from daemon.store import matches
    from tests.test_apply import LIBRARY, T0, scrobble, setup

    played = [t for t in LIBRARY.tracks if t.deleted_at is None][:60]
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(played)])
    with engine.connect() as conn:
        before = list(matches.listing(conn))
    guessed = DatabaseLibrary(str(db), discs=lambda section: {t.id: 9 for t in LIBRARY.tracks})
    counts = reconcile.refresh_library(guessed, engine)
    assert counts["changed"] > 0  # every track's disc changed, so everything was re-matched
    assert counts["match"]["matched"] > 0
    with engine.connect() as conn:
        assert list(matches.listing(conn)) == before


@pytest.mark.parametrize("shape", ["2020", "2021", "2023", "current"])
def test_db_reads_every_known_shape(library: Library, tmp_path: Path, shape: str,
                                    berlin_time: None) -> None:
    db = build_plex_db(tmp_path / f"{shape}.db", library, shape=shape, section_id=SECTION_ID)
    assert list(DatabaseLibrary(str(db.path)).tracks()) == expected_tracks(library, discs=False)
