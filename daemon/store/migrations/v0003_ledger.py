"""Migration 3: apply ledger, plays already in Plex, apply batches."""

from daemon.store.migrations.base import sql

NAME = "apply ledger, plays already in Plex, apply batches"
APPLY = sql(
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
