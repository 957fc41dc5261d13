"""Store tables: analytics: tags and genres, their fetch state, listening rollups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, Integer, Table, Text, UniqueConstraint

from daemon.store.tables.base import metadata

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
