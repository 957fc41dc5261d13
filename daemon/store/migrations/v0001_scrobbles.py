"""Migration 1: scrobbles, sync state, job runs, imports."""

from daemon.store.migrations.base import sql

NAME = "scrobbles, sync state, job runs, imports"
APPLY = sql(
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
