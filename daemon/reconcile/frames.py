"""The store's rows as the matcher's frames: the mirrored library and the scrobbled tracks.

Read through the driver's cursor in chunks, text kept as numpy object columns with each
chunk's equal strings one object (see `read_frame`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from daemon.store.engine import driver_cursor

COMPILATION_ARTISTS = frozenset({"various artists", "various", "va", "verschiedene interpreten",
                                 "artistes divers", "varios artistas", "vários artistas"})
READ_CHUNK_ROWS = 50_000


def library_frame(conn: Connection) -> pd.DataFrame:
    """The mirrored library as the matcher wants it, compilations flagged."""
    frame = read_frame(
        conn, "SELECT rating_key, title, album, album_artist, track_artist, album_year,"
        " track_mbid, album_mbid, artist_mbid, album_rating_key FROM library_tracks"
    )
    codes, artists = pd.factorize(frame["album_artist"].to_numpy())  # each name once
    various = np.array([*(isinstance(a, str) and a.casefold() in COMPILATION_ARTISTS
                          for a in artists), False], dtype=bool)[codes]  # -1 (None): False
    artists_per_album = (
        frame[frame["track_artist"] != ""].groupby("album_rating_key")["track_artist"].nunique()
    )
    mixed = frame["album_rating_key"].map(artists_per_album).fillna(0) > 1
    frame["is_compilation"] = various | mixed
    return frame


def scrobbled(conn: Connection, where: str = "", params: tuple[Any, ...] = ()) -> pd.DataFrame:
    return read_frame(
        conn, "SELECT t.id, t.artist, t.title, t.album, t.plays, t.artist_mbid, t.track_mbid,"
        " t.album_mbid, m.status, m.rating_key AS current_key FROM scrobbled_tracks t"
        f" LEFT JOIN matches m ON m.track_id = t.id {where}", params).set_index("id")


def read_frame(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """A query's rows as pandas' read_sql_query builds them, through the driver's cursor
    (pandas went through SQLAlchemy Row objects: 1.0 s for the 200,000-track library).

    Text stays a numpy object column (pandas 3 would make pyarrow strings, which the matcher
    converts back: ~1 s per job), each chunk's equal strings one object (the driver makes one
    per cell: 200,000 library rows hold ~30,000 titles, ~7,000 albums); numbers are inferred
    as from_records does."""
    cursor = driver_cursor(conn, sql, params)
    names = [d[0] for d in cursor.description]
    chunks: list[list[tuple[Any, ...] | np.ndarray]] = [[] for _ in names]
    while rows := cursor.fetchmany(READ_CHUNK_ROWS):
        for parts, values in zip(chunks, zip(*rows, strict=True), strict=True):
            parts.append(_shared(values))
        del rows
    return pd.DataFrame({name: _column(parts) for name, parts in zip(names, chunks, strict=True)})


def _shared(values: tuple[Any, ...]) -> tuple[Any, ...] | np.ndarray:
    """Text values as an object array with one object per distinct string; others as given.

    A dict's setdefault keeps each string's first object (a C-level map, half the CPU of
    factorizing each chunk's column and indexing its uniques back: ~0.15 s per library)."""
    if not isinstance(next((v for v in values if v is not None), None), str):
        return values
    first: dict[Any, Any] = {}
    array = np.empty(len(values), dtype=object)
    array[:] = list(map(first.setdefault, values, values))  # None stays None
    return array


def _column(parts: list[tuple[Any, ...] | np.ndarray]) -> pd.Series:
    if any(isinstance(p, np.ndarray) for p in parts):
        return pd.Series(np.concatenate([np.asarray(p, dtype=object) for p in parts]),
                         dtype=object, copy=False)
    return pd.Series([v for p in parts for v in p])
