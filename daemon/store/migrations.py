"""Versioned schema migrations, applied in order at start, each in its own transaction.

A migration is never edited once released: a later release adds a new one. That way an
older store always opens under a newer plexfm without losing data (tests/test_store.py
builds a store at every historical version and upgrades it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

MIGRATIONS_TABLE = "schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _sql(*statements: str) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        for statement in statements:
            conn.exec_driver_sql(statement)

    return run


_V1 = _sql(
    """CREATE TABLE scrobbles (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        uts INTEGER NOT NULL,
        artist TEXT NOT NULL,
        title TEXT NOT NULL,
        album TEXT NOT NULL DEFAULT '',
        ordinal INTEGER NOT NULL DEFAULT 0,
        artist_mbid TEXT NOT NULL DEFAULT '',
        track_mbid TEXT NOT NULL DEFAULT '',
        album_mbid TEXT NOT NULL DEFAULT '',
        loved INTEGER,
        source TEXT NOT NULL,
        added_at INTEGER NOT NULL
    )""",
    """CREATE UNIQUE INDEX ux_scrobbles_identity
        ON scrobbles (user, uts, artist, title, album, ordinal)""",
    """CREATE TABLE sync_state (
        user TEXT PRIMARY KEY,
        backfill_to INTEGER,
        backfill_started_at INTEGER,
        backfill_completed_at INTEGER,
        cursor INTEGER,
        last_pull_at INTEGER,
        page_size INTEGER
    )""",
    """CREATE TABLE sync_windows (
        user TEXT NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        total INTEGER NOT NULL,
        added INTEGER NOT NULL,
        done_at INTEGER NOT NULL,
        PRIMARY KEY (user, start, "end")
    )""",
    """CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY,
        job TEXT NOT NULL,
        trigger TEXT NOT NULL DEFAULT 'manual',
        started_at REAL NOT NULL,
        finished_at REAL,
        outcome TEXT NOT NULL,
        counts TEXT NOT NULL DEFAULT '{}',
        error TEXT
    )""",
    "CREATE INDEX ix_job_runs_job_started ON job_runs (job, started_at)",
    """CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        user TEXT NOT NULL,
        imported_at INTEGER NOT NULL,
        rows_read INTEGER NOT NULL,
        rows_added INTEGER NOT NULL,
        rows_skipped INTEGER NOT NULL
    )""",
)

_V2 = _sql(
    """CREATE TABLE library_tracks (
        rating_key INTEGER PRIMARY KEY,
        section_id INTEGER NOT NULL,
        guid TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL,
        track_artist TEXT NOT NULL DEFAULT '',
        album_artist TEXT NOT NULL DEFAULT '',
        album TEXT NOT NULL DEFAULT '',
        album_year INTEGER,
        track_number INTEGER,
        disc_number INTEGER,
        duration_ms INTEGER,
        album_rating_key INTEGER,
        artist_rating_key INTEGER,
        album_guid TEXT NOT NULL DEFAULT '',
        artist_guid TEXT NOT NULL DEFAULT '',
        track_mbid TEXT NOT NULL DEFAULT '',
        album_mbid TEXT NOT NULL DEFAULT '',
        artist_mbid TEXT NOT NULL DEFAULT '',
        added_at INTEGER,
        updated_at INTEGER,
        refreshed_at INTEGER NOT NULL
    )""",
    "CREATE INDEX ix_library_tracks_album_artist ON library_tracks (album_artist)",
    """CREATE TABLE scrobbled_tracks (
        id INTEGER PRIMARY KEY,
        artist TEXT NOT NULL,
        title TEXT NOT NULL,
        album TEXT NOT NULL DEFAULT '',
        plays INTEGER NOT NULL DEFAULT 0,
        artist_mbid TEXT NOT NULL DEFAULT '',
        track_mbid TEXT NOT NULL DEFAULT '',
        album_mbid TEXT NOT NULL DEFAULT '',
        first_uts INTEGER,
        last_uts INTEGER
    )""",
    "CREATE UNIQUE INDEX ux_scrobbled_tracks_identity ON scrobbled_tracks (artist, title, album)",
    """CREATE TABLE matches (
        track_id INTEGER PRIMARY KEY REFERENCES scrobbled_tracks (id),
        status TEXT NOT NULL,
        rating_key INTEGER,
        rule TEXT,
        reason TEXT,
        alternatives TEXT NOT NULL DEFAULT '[]',
        suggestions TEXT NOT NULL DEFAULT '[]',
        decided_at INTEGER NOT NULL,
        note TEXT
    )""",
    "CREATE INDEX ix_matches_status ON matches (status)",
    "CREATE INDEX ix_matches_rating_key ON matches (rating_key)",
    """CREATE TABLE match_history (
        id INTEGER PRIMARY KEY,
        track_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        origin TEXT NOT NULL,
        old_status TEXT,
        old_rating_key INTEGER,
        new_status TEXT NOT NULL,
        new_rating_key INTEGER
    )""",
    "CREATE INDEX ix_match_history_track ON match_history (track_id, at)",
    """CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )""",
)

_V3 = _sql(
    """CREATE TABLE applied_plays (
        scrobble_id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        rating_key INTEGER NOT NULL,
        view_id INTEGER,
        batch_id INTEGER NOT NULL,
        applied_at INTEGER NOT NULL
    )""",
    """CREATE TABLE plays_in_plex (
        scrobble_id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        rating_key INTEGER NOT NULL,
        native_viewed_at INTEGER NOT NULL,
        checked_at INTEGER NOT NULL
    )""",
    """CREATE TABLE apply_batches (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        mode TEXT NOT NULL,
        state TEXT NOT NULL,
        max_view_id_before INTEGER,
        added INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0,
        already_in_plex INTEGER NOT NULL DEFAULT 0,
        backup TEXT,
        note TEXT
    )""",
)

_V4 = _sql(
    # the status page: library search as you type (FTS5, kept in sync by triggers; REPLACE in
    # the refresh fires only the insert trigger, so it upserts), scrobbled-track text filter,
    # queue and per-track ledger lookups, "skip for now", and counts cached by the jobs
    """CREATE VIRTUAL TABLE library_fts USING fts5(
        title, album_artist, track_artist, album,
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    )""",
    """INSERT INTO library_fts (rowid, title, album_artist, track_artist, album)
        SELECT rating_key, title, album_artist, track_artist, album FROM library_tracks""",
    """CREATE TRIGGER library_fts_insert AFTER INSERT ON library_tracks BEGIN
        INSERT OR REPLACE INTO library_fts (rowid, title, album_artist, track_artist, album)
        VALUES (new.rating_key, new.title, new.album_artist, new.track_artist, new.album);
    END""",
    """CREATE TRIGGER library_fts_delete AFTER DELETE ON library_tracks BEGIN
        DELETE FROM library_fts WHERE rowid = old.rating_key;
    END""",
    """CREATE TRIGGER library_fts_update
        AFTER UPDATE OF rating_key, title, album_artist, track_artist, album ON library_tracks
    BEGIN
        DELETE FROM library_fts WHERE rowid = old.rating_key;
        INSERT INTO library_fts (rowid, title, album_artist, track_artist, album)
        VALUES (new.rating_key, new.title, new.album_artist, new.track_artist, new.album);
    END""",
    """CREATE VIRTUAL TABLE scrobbled_fts USING fts5(
        artist, title, album, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    )""",
    """INSERT INTO scrobbled_fts (rowid, artist, title, album)
        SELECT id, artist, title, album FROM scrobbled_tracks""",
    """CREATE TRIGGER scrobbled_fts_insert AFTER INSERT ON scrobbled_tracks BEGIN
        INSERT OR REPLACE INTO scrobbled_fts (rowid, artist, title, album)
        VALUES (new.id, new.artist, new.title, new.album);
    END""",
    """CREATE TRIGGER scrobbled_fts_delete AFTER DELETE ON scrobbled_tracks BEGIN
        DELETE FROM scrobbled_fts WHERE rowid = old.id;
    END""",
    "CREATE INDEX ix_scrobbled_tracks_plays ON scrobbled_tracks (plays DESC, id)",
    "CREATE INDEX ix_scrobbled_tracks_album ON scrobbled_tracks (album)",
    "CREATE INDEX ix_applied_plays_rating_key ON applied_plays (rating_key)",
    """CREATE TABLE queue_skips (
        track_id INTEGER PRIMARY KEY,
        until INTEGER NOT NULL,
        at INTEGER NOT NULL
    )""",
    """CREATE TABLE page_stats (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        refreshed_at REAL NOT NULL
    )""",
    """CREATE TABLE library_plays (
        rating_key INTEGER PRIMARY KEY,
        plays INTEGER NOT NULL,
        tracks INTEGER NOT NULL
    )""",
    "CREATE INDEX ix_library_plays_plays ON library_plays (plays, rating_key)",
)

_V5 = _sql(
    """CREATE TABLE tag_state (
        artist TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        fetched_at INTEGER NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        error TEXT
    )""",
    "CREATE INDEX ix_tag_state_fetched ON tag_state (fetched_at)",
    """CREATE TABLE artist_tags (
        artist TEXT NOT NULL,
        tag TEXT NOT NULL,
        weight INTEGER NOT NULL,
        PRIMARY KEY (artist, tag)
    ) WITHOUT ROWID""",
    """CREATE TABLE artist_genres (
        artist TEXT NOT NULL,
        genre TEXT NOT NULL,
        weight INTEGER NOT NULL,
        rank INTEGER NOT NULL,
        PRIMARY KEY (artist, genre)
    ) WITHOUT ROWID""",
    """CREATE TABLE rollup_state (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE rollup_hourly (
        user TEXT NOT NULL,
        day INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        weekday INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, day, hour)
    ) WITHOUT ROWID""",
    """CREATE TABLE rollup_monthly_artist (
        user TEXT NOT NULL,
        month INTEGER NOT NULL,
        artist TEXT NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, month, artist)
    ) WITHOUT ROWID""",
    """CREATE TABLE rollup_monthly_track (
        user TEXT NOT NULL,
        month INTEGER NOT NULL,
        track_id INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, month, track_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE rollup_track_total (
        user TEXT NOT NULL,
        track_id INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, track_id)
    ) WITHOUT ROWID""",
)

_V6 = _sql(
    """CREATE TABLE scrobble_tracks (
        scrobble_id INTEGER PRIMARY KEY,
        track_id INTEGER NOT NULL,
        user TEXT NOT NULL,
        uts INTEGER NOT NULL
    )""",
    "CREATE INDEX ix_scrobble_tracks_track ON scrobble_tracks (track_id)",
    # stores folded before this migration: map what was folded already
    """INSERT INTO scrobble_tracks (scrobble_id, track_id, user, uts)
       SELECT s.id, t.id, s.user, s.uts FROM scrobbles s JOIN scrobbled_tracks t
       ON t.artist = s.artist AND t.title = s.title AND t.album = s.album
       WHERE s.id <= coalesce((SELECT value FROM counters
                               WHERE name = 'scrobbles_folded_through'), 0)""",
)

# analytics at scale: artists and albums by integer id, rollups per year and per genre; the
# text-keyed monthly rollups of migration 5 go (everything is folded again from scrobble 0)
_V7 = _sql(
    "DROP TABLE rollup_monthly_artist",
    "DROP TABLE rollup_monthly_track",
    "DELETE FROM rollup_hourly",
    "DELETE FROM rollup_track_total",
    "DELETE FROM rollup_state WHERE name IN ('timezone', 'folded_through')",
    """CREATE TABLE artists (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE albums (
        id INTEGER PRIMARY KEY,
        artist_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        UNIQUE (artist_id, name)
    )""",
    """CREATE TABLE track_keys (
        track_id INTEGER PRIMARY KEY,
        artist_id INTEGER NOT NULL,
        album_id INTEGER
    )""",
    """CREATE TABLE rollup_artist_month (
        user TEXT NOT NULL,
        month INTEGER NOT NULL,
        artist_id INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, month, artist_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX ix_rollup_artist_month_artist ON rollup_artist_month (artist_id)",
    """CREATE TABLE rollup_artist_year (
        user TEXT NOT NULL,
        year INTEGER NOT NULL,
        artist_id INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, year, artist_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX ix_rollup_artist_year_plays ON rollup_artist_year (user, year, plays)",
    """CREATE TABLE rollup_artist_total (
        user TEXT NOT NULL,
        artist_id INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        first_month INTEGER NOT NULL,
        PRIMARY KEY (user, artist_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE rollup_album_year (
        user TEXT NOT NULL,
        year INTEGER NOT NULL,
        album_id INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, year, album_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE rollup_album_total (
        user TEXT NOT NULL,
        album_id INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, album_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE rollup_track_year (
        user TEXT NOT NULL,
        year INTEGER NOT NULL,
        track_id INTEGER NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, year, track_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE rollup_genre_month (
        user TEXT NOT NULL,
        month INTEGER NOT NULL,
        genre TEXT NOT NULL,
        plays INTEGER NOT NULL,
        PRIMARY KEY (user, month, genre)
    ) WITHOUT ROWID""",
)

_V8 = _sql(
    # the status page: plays written to Plex per scrobbled track, counted by the background
    # refresh of the page's counts (a join of the whole ledger: never per request)
    """CREATE TABLE track_written (
        track_id INTEGER PRIMARY KEY,
        written INTEGER NOT NULL
    )""",
    # the queue's bulk accept ("top suggestion scores at least N") as an index range
    """CREATE INDEX ix_matches_queued_top_score ON matches
        (json_extract(suggestions, '$[0][1]')) WHERE status = 'queued'""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "scrobbles, sync state, job runs, imports", _V1),
    Migration(2, "library mirror, scrobbled tracks, matches and their history", _V2),
    Migration(3, "apply ledger, plays already in Plex, apply batches", _V3),
    Migration(4, "status page: library search, queue skips, cached counts", _V4),
    Migration(5, "analytics: artist tags and genres, tag fetch state, listening rollups", _V5),
    Migration(6, "scrobble -> scrobbled track mapping (integer joins for apply)", _V6),
    Migration(7, "analytics: artist and album ids, rollups per year and per genre", _V7),
    Migration(8, "status page: plays written to Plex per track (cached)", _V8),
)


def applied_versions(conn: Connection) -> set[int]:
    """The versions already applied to this database (empty for a new one)."""
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    return {int(v) for (v,) in conn.exec_driver_sql(f"SELECT version FROM {MIGRATIONS_TABLE}")}


def migrate(engine: Engine, *, target: int | None = None) -> list[int]:
    """Apply every migration not applied yet, in version order, up to `target` (default: all);
    return the versions applied. (Set-based rather than "above the highest": branches that
    each added a migration can land in any order.)"""
    applied: list[int] = []
    for migration in sorted(MIGRATIONS, key=lambda m: m.version):
        if target is not None and migration.version > target:
            break
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            if migration.version in applied_versions(conn):
                continue
            migration.apply(conn)
            conn.exec_driver_sql(
                f"INSERT INTO {MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time())),
            )
            applied.append(migration.version)
    return applied
