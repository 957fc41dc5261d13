"""Store tables: the status page's caches: queue skips, page counts, plays per library track."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, Table, Text

from daemon.store.tables.base import metadata

queue_skips = Table(
    "queue_skips",
    metadata,
    Column("track_id", Integer, primary_key=True),
    Column("until", Integer, nullable=False),
    Column("at", Integer, nullable=False),
)

page_stats = Table(
    "page_stats",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("refreshed_at", Float, nullable=False),
)

library_plays = Table(
    "library_plays",
    metadata,
    Column("rating_key", Integer, primary_key=True),
    Column("plays", Integer, nullable=False),
    Column("tracks", Integer, nullable=False),
    Index("ix_library_plays_plays", "plays", "rating_key"),
)

# migration 8: the status page's per-track count of plays written to Plex (cached); its
# expression index ix_matches_queued_top_score is not declared here (SQLAlchemy cannot
# reflect expression indexes; the schema test finds it in sqlite_master)
track_written = Table(
    "track_written",
    metadata,
    Column("track_id", Integer, primary_key=True),
    Column("written", Integer, nullable=False),
)
