"""SQLAlchemy Core tables mirroring the latest migration (a test checks they agree)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text, UniqueConstraint

metadata = MetaData()

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

library_tracks = Table(
    "library_tracks",
    metadata,
    Column("rating_key", Integer, primary_key=True),
    Column("section_id", Integer, nullable=False),
    Column("guid", Text, nullable=False, server_default=""),
    Column("title", Text, nullable=False),
    Column("track_artist", Text, nullable=False, server_default=""),
    Column("album_artist", Text, nullable=False, server_default=""),
    Column("album", Text, nullable=False, server_default=""),
    Column("album_year", Integer),
    Column("track_number", Integer),
    Column("disc_number", Integer),
    Column("duration_ms", Integer),
    Column("album_rating_key", Integer),
    Column("artist_rating_key", Integer),
    Column("album_guid", Text, nullable=False, server_default=""),
    Column("artist_guid", Text, nullable=False, server_default=""),
    Column("track_mbid", Text, nullable=False, server_default=""),
    Column("album_mbid", Text, nullable=False, server_default=""),
    Column("artist_mbid", Text, nullable=False, server_default=""),
    Column("added_at", Integer),
    Column("updated_at", Integer),
    Column("refreshed_at", Integer, nullable=False),
    Index("ix_library_tracks_album_artist", "album_artist"),
)

scrobbled_tracks = Table(
    "scrobbled_tracks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("artist", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("album", Text, nullable=False, server_default=""),
    Column("plays", Integer, nullable=False, server_default="0"),
    Column("artist_mbid", Text, nullable=False, server_default=""),
    Column("track_mbid", Text, nullable=False, server_default=""),
    Column("album_mbid", Text, nullable=False, server_default=""),
    Column("first_uts", Integer),
    Column("last_uts", Integer),
    Index("ux_scrobbled_tracks_identity", "artist", "title", "album", unique=True),
)

matches = Table(
    "matches",
    metadata,
    Column("track_id", Integer, primary_key=True),
    Column("status", Text, nullable=False),
    Column("rating_key", Integer),
    Column("rule", Text),
    Column("reason", Text),
    Column("alternatives", Text, nullable=False, server_default="[]"),
    Column("suggestions", Text, nullable=False, server_default="[]"),
    Column("decided_at", Integer, nullable=False),
    Column("note", Text),
    Index("ix_matches_status", "status"),
    Index("ix_matches_rating_key", "rating_key"),
)

match_history = Table(
    "match_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("track_id", Integer, nullable=False),
    Column("at", Integer, nullable=False),
    Column("origin", Text, nullable=False),
    Column("old_status", Text),
    Column("old_rating_key", Integer),
    Column("new_status", Text, nullable=False),
    Column("new_rating_key", Integer),
    Index("ix_match_history_track", "track_id", "at"),
)

counters = Table(
    "counters",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Integer, nullable=False),
)

applied_plays = Table(
    "applied_plays",
    metadata,
    Column("scrobble_id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("rating_key", Integer, nullable=False),
    Column("view_id", Integer),
    Column("batch_id", Integer, nullable=False),
    Column("applied_at", Integer, nullable=False),
)

plays_in_plex = Table(
    "plays_in_plex",
    metadata,
    Column("scrobble_id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("rating_key", Integer, nullable=False),
    Column("native_viewed_at", Integer, nullable=False),
    Column("checked_at", Integer, nullable=False),
)

apply_batches = Table(
    "apply_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("mode", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("max_view_id_before", Integer),
    Column("added", Integer, nullable=False, server_default="0"),
    Column("removed", Integer, nullable=False, server_default="0"),
    Column("already_in_plex", Integer, nullable=False, server_default="0"),
    Column("backup", Text),
    Column("note", Text),
)

# migration 4: the status page (library_fts and scrobbled_fts are FTS5 tables, not here)
Index("ix_scrobbled_tracks_plays", scrobbled_tracks.c.plays.desc(), scrobbled_tracks.c.id)
Index("ix_scrobbled_tracks_album", scrobbled_tracks.c.album)
Index("ix_applied_plays_rating_key", applied_plays.c.rating_key)

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

# migration 5: analytics (tags of artists, their genres, and rollups of plays in local time)
tag_state = Table(
    "tag_state",
    metadata,
    Column("artist", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("source", Text, nullable=False, server_default=""),
    Column("fetched_at", Integer, nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Index("ix_tag_state_fetched", "fetched_at"),
)

artist_tags = Table(
    "artist_tags",
    metadata,
    Column("artist", Text, primary_key=True),
    Column("tag", Text, primary_key=True),
    Column("weight", Integer, nullable=False),
    sqlite_with_rowid=False,
)

artist_genres = Table(
    "artist_genres",
    metadata,
    Column("artist", Text, primary_key=True),
    Column("genre", Text, primary_key=True),
    Column("weight", Integer, nullable=False),
    Column("rank", Integer, nullable=False),
    sqlite_with_rowid=False,
)

rollup_state = Table(
    "rollup_state",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

rollup_hourly = Table(
    "rollup_hourly",
    metadata,
    Column("user", Text, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("hour", Integer, primary_key=True),
    Column("weekday", Integer, nullable=False),
    Column("plays", Integer, nullable=False),
    sqlite_with_rowid=False,
)

rollup_track_total = Table(
    "rollup_track_total",
    metadata,
    Column("user", Text, primary_key=True),
    Column("track_id", Integer, primary_key=True),
    Column("plays", Integer, nullable=False),
    sqlite_with_rowid=False,
)

scrobble_tracks = Table(
    "scrobble_tracks",
    metadata,
    Column("scrobble_id", Integer, primary_key=True),
    Column("track_id", Integer, nullable=False),
    Column("user", Text, nullable=False),
    Column("uts", Integer, nullable=False),
    Index("ix_scrobble_tracks_track", "track_id"),
)

# migration 7: analytics at scale (integer artist and album ids, yearly and genre rollups)
artists = Table(
    "artists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
)

albums = Table(
    "albums",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("artist_id", Integer, nullable=False),
    Column("name", Text, nullable=False),
    UniqueConstraint("artist_id", "name"),
)

track_keys = Table(
    "track_keys",
    metadata,
    Column("track_id", Integer, primary_key=True),
    Column("artist_id", Integer, nullable=False),
    Column("album_id", Integer),
)


def _rollup(name: str, *keys: Column[Any], extra: tuple[Any, ...] = ()) -> Table:
    return Table(name, metadata, Column("user", Text, primary_key=True), *keys,
                 Column("plays", Integer, nullable=False), *extra, sqlite_with_rowid=False)


rollup_artist_month = _rollup(
    "rollup_artist_month", Column("month", Integer, primary_key=True),
    Column("artist_id", Integer, primary_key=True),
    extra=(Index("ix_rollup_artist_month_artist", "artist_id"),))
rollup_artist_year = _rollup(
    "rollup_artist_year", Column("year", Integer, primary_key=True),
    Column("artist_id", Integer, primary_key=True),
    extra=(Index("ix_rollup_artist_year_plays", "user", "year", "plays"),))
rollup_artist_total = _rollup("rollup_artist_total", Column("artist_id", Integer, primary_key=True),
                              extra=(Column("first_month", Integer, nullable=False),))
rollup_album_year = _rollup("rollup_album_year", Column("year", Integer, primary_key=True),
                            Column("album_id", Integer, primary_key=True))
rollup_album_total = _rollup("rollup_album_total", Column("album_id", Integer, primary_key=True))
rollup_track_year = _rollup("rollup_track_year", Column("year", Integer, primary_key=True),
                            Column("track_id", Integer, primary_key=True))
rollup_genre_month = _rollup("rollup_genre_month", Column("month", Integer, primary_key=True),
                             Column("genre", Text, primary_key=True))

# migration 8: the status page's per-track count of plays written to Plex (cached); its
# expression index ix_matches_queued_top_score is not declared here (SQLAlchemy cannot
# reflect expression indexes, so the schema test compares what it can see)
track_written = Table(
    "track_written",
    metadata,
    Column("track_id", Integer, primary_key=True),
    Column("written", Integer, nullable=False),
)
