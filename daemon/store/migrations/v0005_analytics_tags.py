"""Migration 5: analytics: artist tags and genres, tag fetch state, listening rollups."""

from daemon.store.migrations.base import sql

NAME = "analytics: artist tags and genres, tag fetch state, listening rollups"
APPLY = sql(
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
