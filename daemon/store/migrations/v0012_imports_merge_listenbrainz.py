"""Migration 12: plays merged across sources, and the ListenBrainz pull's checkpoints."""

from daemon.store.migrations.base import sql

NAME = "plays merged across sources; ListenBrainz pull checkpoints"
APPLY = sql(
    # a play of one source that is a stored play of another (Spotify's copy of a last.fm
    # scrobble): its identity, and the stored play it is
    """CREATE TABLE merged_plays (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        source TEXT NOT NULL,
        uts INTEGER NOT NULL,
        artist TEXT NOT NULL,
        title TEXT NOT NULL,
        album TEXT NOT NULL DEFAULT '',
        ordinal INTEGER NOT NULL DEFAULT 0,
        scrobble_id INTEGER NOT NULL REFERENCES scrobbles (id) ON DELETE CASCADE,
        merged_at INTEGER NOT NULL
    )""",
    """CREATE UNIQUE INDEX ux_merged_plays_identity ON merged_plays
        (user, source, uts, artist, title, album, ordinal)""",
    # one ListenBrainz user's pull: everything before `cursor` is stored; a walk in progress
    # goes from walk_end down to walk_floor and has stored everything in [walk_next, walk_end)
    """CREATE TABLE listenbrainz_sync (
        lb_user TEXT PRIMARY KEY,
        store_user TEXT NOT NULL,
        cursor INTEGER,
        walk_end INTEGER,
        walk_next INTEGER,
        walk_floor INTEGER,
        last_pull_at INTEGER
    )""",
)
