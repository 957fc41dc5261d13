"""Store tables: plays merged across sources, the ListenBrainz pull's checkpoints."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, Table, Text

from daemon.store.tables.base import metadata

merged_plays = Table(
    "merged_plays",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("uts", Integer, nullable=False),
    Column("artist", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("album", Text, nullable=False, server_default=""),
    Column("ordinal", Integer, nullable=False, server_default="0"),
    Column("scrobble_id", Integer, ForeignKey("scrobbles.id", ondelete="CASCADE"),
           nullable=False),
    Column("merged_at", Integer, nullable=False),
    Index("ux_merged_plays_identity", "user", "source", "uts", "artist", "title", "album",
          "ordinal", unique=True),
)

listenbrainz_sync = Table(
    "listenbrainz_sync",
    metadata,
    Column("lb_user", Text, primary_key=True),
    Column("store_user", Text, nullable=False),
    Column("cursor", Integer),
    Column("walk_end", Integer),
    Column("walk_next", Integer),
    Column("walk_floor", Integer),
    Column("last_pull_at", Integer),
)
