"""Migration 6: scrobble -> scrobbled track mapping (integer joins for apply)."""

from daemon.store.migrations.base import sql

NAME = "scrobble -> scrobbled track mapping (integer joins for apply)"
APPLY = sql(
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
