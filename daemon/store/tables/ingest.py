"""Store tables: scrobbles (and the quarantined ones), the pull's sync state and windows, job
runs, imports."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, Table, Text

from daemon.store.tables.base import metadata

scrobbles = Table(
    "scrobbles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user", Text, nullable=False),
    Column("uts", Integer, nullable=False),
    Column("artist", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("album", Text, nullable=False, server_default=""),
    Column("ordinal", Integer, nullable=False, server_default="0"),
    Column("artist_mbid", Text, nullable=False, server_default=""),
    Column("track_mbid", Text, nullable=False, server_default=""),
    Column("album_mbid", Text, nullable=False, server_default=""),
    Column("loved", Integer),
    Column("source", Text, nullable=False),
    Column("added_at", Integer, nullable=False),
    Index("ux_scrobbles_identity", "user", "uts", "artist", "title", "album", "ordinal",
          unique=True),
)

# scrobbles stored before the range check with a time outside it (migration 11): kept, in
# no view; `id` is the id they had in scrobbles
scrobbles_quarantine = Table(
    "scrobbles_quarantine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user", Text, nullable=False),
    Column("uts", Integer, nullable=False),
    Column("artist", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("album", Text, nullable=False, server_default=""),
    Column("ordinal", Integer, nullable=False, server_default="0"),
    Column("artist_mbid", Text, nullable=False, server_default=""),
    Column("track_mbid", Text, nullable=False, server_default=""),
    Column("album_mbid", Text, nullable=False, server_default=""),
    Column("loved", Integer),
    Column("source", Text, nullable=False),
    Column("added_at", Integer, nullable=False),
    Column("quarantined_at", Integer, nullable=False),
    Column("reason", Text, nullable=False),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("user", Text, primary_key=True),
    Column("backfill_to", Integer),
    Column("backfill_started_at", Integer),
    Column("backfill_completed_at", Integer),
    Column("cursor", Integer),
    Column("last_pull_at", Integer),
    Column("page_size", Integer),
)

sync_windows = Table(
    "sync_windows",
    metadata,
    Column("user", Text, primary_key=True),
    Column("start", Integer, primary_key=True),
    Column("end", Integer, primary_key=True),
    Column("total", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("done_at", Integer, nullable=False),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", Text, nullable=False),
    Column("trigger", Text, nullable=False, server_default="manual"),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("outcome", Text, nullable=False),
    Column("counts", Text, nullable=False, server_default="{}"),
    Column("error", Text),
    Index("ix_job_runs_job_started", "job", "started_at"),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("imported_at", Integer, nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_added", Integer, nullable=False),
    Column("rows_skipped", Integer, nullable=False),
)
