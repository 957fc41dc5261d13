"""Store tables: the library mirror, scrobbled tracks, their matches and decision history."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, Table, Text

from daemon.store.tables.base import metadata

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

scrobble_tracks = Table(
    "scrobble_tracks",
    metadata,
    Column("scrobble_id", Integer, primary_key=True),
    Column("track_id", Integer, nullable=False),
    Column("user", Text, nullable=False),
    Column("uts", Integer, nullable=False),
    Index("ix_scrobble_tracks_track", "track_id"),
)

# migration 4: the status page (library_fts and scrobbled_fts are FTS5 tables, not here)
Index("ix_scrobbled_tracks_plays", scrobbled_tracks.c.plays.desc(), scrobbled_tracks.c.id)
Index("ix_scrobbled_tracks_album", scrobbled_tracks.c.album)
