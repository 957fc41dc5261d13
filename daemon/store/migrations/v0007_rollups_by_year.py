"""Migration 7: analytics: artist and album ids, rollups per year and per genre."""

from daemon.store.migrations.base import sql

NAME = "analytics: artist and album ids, rollups per year and per genre"
# analytics at scale: artists and albums by integer id, rollups per year and per genre; the
# text-keyed monthly rollups of migration 5 go (everything is folded again from scrobble 0)
APPLY = sql(
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
