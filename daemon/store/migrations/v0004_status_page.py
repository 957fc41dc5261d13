"""Migration 4: status page: library search, queue skips, cached counts."""

from daemon.store.migrations.base import sql

NAME = "status page: library search, queue skips, cached counts"
APPLY = sql(
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
