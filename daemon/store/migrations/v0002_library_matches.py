"""Migration 2: library mirror, scrobbled tracks, matches and their history."""

from daemon.store.migrations.base import sql

NAME = "library mirror, scrobbled tracks, matches and their history"
APPLY = sql(
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
