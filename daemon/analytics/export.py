"""`plexfm export`: every scrobble joined with its match and its artist's genres, as CSV,
Parquet or NDJSON, in the schema docs/export.md documents (SCHEMA below is that schema).

Rows are read in chunks ordered by scrobble id and written as they come (bounded memory);
the file is written next to OUT and renamed over it at the end, so a failed export never
leaves half a file under the real name. `since` keeps plays at or after local midnight of a
date (undated plays have no date and are left out then).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine

from daemon.analytics.csvcells import LINE_END, formula_safe_frame
from daemon.analytics.localtime import day_start
from daemon.analytics.report import AnalyticsSettings
from daemon.analytics.rollup import refresh
from daemon.errors import PlexfmError
from daemon.store import tags as tag_store

FORMATS = ("csv", "parquet", "ndjson")
CHUNK = 250_000

# (column, Parquet/Arrow type, description); docs/export.md renders the same list
SCHEMA: tuple[tuple[str, str, str], ...] = (
    ("scrobble_id", "int64", "plexfm's id of the scrobble; unique, the key to merge on"),
    ("user", "string", "last.fm user"),
    ("played_at", "timestamp[us, UTC]", "when the play started (UTC); null when undated"),
    ("uts", "int64", "the same instant in Unix seconds; 0 for undated legacy plays"),
    ("local_date", "date32", "local date of the play in analytics.timezone; null when undated"),
    ("local_hour", "int64", "local hour 0-23; null when undated"),
    ("artist", "string", "artist as scrobbled"),
    ("title", "string", "track title as scrobbled"),
    ("album", "string", "album as scrobbled; null when none"),
    ("artist_mbid", "string", "MusicBrainz artist id; null when none"),
    ("track_mbid", "string", "MusicBrainz recording id; null when none"),
    ("album_mbid", "string", "MusicBrainz release id; null when none"),
    ("loved", "bool", "loved on last.fm; null when unknown"),
    ("source", "string", "where the row came from: lastfm, or import:<format>"),
    ("added_at", "timestamp[us, UTC]", "when plexfm stored the row"),
    ("track_id", "int64", "plexfm's id of the scrobbled track (artist, title, album)"),
    ("match_status", "string", "auto, manual, not_in_library or queued; null: not matched yet"),
    ("plex_rating_key", "int64", "the Plex track it is matched to (auto or manual); else null"),
    ("plex_title", "string", "that Plex track's title"),
    ("plex_artist", "string", "that Plex track's artist"),
    ("plex_album", "string", "that Plex track's album"),
    ("genre", "string", "the artist's primary genre; null when the artist has none"),
    ("genres", "string", "all the artist's genres, best first, separated by '; '"),
)
COLUMNS = tuple(name for name, _type, _desc in SCHEMA)
_NULL_WHEN_EMPTY = ("album", "artist_mbid", "track_mbid", "album_mbid")
_TEXT = [name for name, kind, _desc in SCHEMA if kind == "string"]

_QUERY = """
SELECT s.id AS scrobble_id, s.user, s.uts, s.artist, s.title, s.album, s.artist_mbid,
       s.track_mbid, s.album_mbid, s.loved, s.source, s.added_at, t.track_id,
       m.status AS match_status, l.rating_key AS plex_rating_key, l.title AS plex_title,
       coalesce(nullif(l.track_artist, ''), l.album_artist) AS plex_artist,
       l.album AS plex_album
FROM scrobbles s
LEFT JOIN scrobble_tracks t ON t.scrobble_id = s.id
LEFT JOIN matches m ON m.track_id = t.track_id
LEFT JOIN library_tracks l ON l.rating_key = m.rating_key AND m.status IN ('auto', 'manual')
WHERE s.id > ? AND s.uts >= ? {user} ORDER BY s.id LIMIT ?
"""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    rows: int


def arrow_schema() -> Any:
    """SCHEMA as a pyarrow schema."""
    import pyarrow as pa  # type: ignore[import-untyped]

    types = {"int64": pa.int64(), "string": pa.string(), "bool": pa.bool_(),
             "date32": pa.date32(), "timestamp[us, UTC]": pa.timestamp("us", tz="UTC")}
    return pa.schema([pa.field(name, types[kind]) for name, kind, _desc in SCHEMA])


def frames(engine: Engine, s: AnalyticsSettings, *, since: date | None = None,
           user: str | None = None, chunk: int = CHUNK) -> Iterator[pd.DataFrame]:
    """The export's rows in chunks (scrobble id order), columns as in SCHEMA."""
    refresh(engine, s.zone, s.rules)  # tracks folded, genres current
    floor = day_start(since, s.zone) if since else 0
    sql = _QUERY.format(user="AND s.user = ?" if user else "")
    with engine.connect() as conn:
        genres = tag_store.primary_genres(conn).set_index("artist")
    after = 0
    while True:
        with engine.connect() as conn:
            params: tuple[Any, ...] = (after, floor, *((user,) if user else ()), chunk)
            # the DB-API connection itself: SQLAlchemy's row objects cost a third of the time
            raw = pd.read_sql_query(sql, conn.connection.driver_connection,  # type: ignore[arg-type]
                                    params=params)
        if raw.empty:
            return
        after = int(raw["scrobble_id"].iloc[-1])
        yield _shape(raw, s, genres)


def _shape(raw: pd.DataFrame, s: AnalyticsSettings, genres: pd.DataFrame) -> pd.DataFrame:
    uts = raw["uts"].to_numpy(dtype="int64")
    dated = pd.Series(uts > 0, index=raw.index)
    instants = pd.to_datetime(pd.Series(uts, index=raw.index), unit="s", utc=True)
    wall = instants.dt.tz_convert(s.zone).dt.tz_localize(None)
    out = raw.assign(
        played_at=instants.where(dated),
        local_date=wall.dt.normalize().where(dated),
        local_hour=wall.dt.hour.astype("Int64").where(dated),
        added_at=pd.to_datetime(raw["added_at"].astype("int64"), unit="s", utc=True),
        loved=raw["loved"].map({1: True, 0: False}).astype("boolean"),
        genre=raw["artist"].map(genres["genre"]),
        genres=raw["artist"].map(genres["genres"]),
    )
    for column in _NULL_WHEN_EMPTY:
        out[column] = out[column].replace("", None)
    for column in ("track_id", "plex_rating_key"):
        out[column] = out[column].astype("Int64")
    return out[list(COLUMNS)]


def export(engine: Engine, s: AnalyticsSettings, path: Path, fmt: str, *,
           since: date | None = None, user: str | None = None, chunk: int = CHUNK
           ) -> ExportResult:
    """Write the export to `path` in `fmt` (csv, parquet or ndjson); return how many rows.

    A file is written next to itself and moved over the old one when complete (a symlink's
    file, the link staying); what is not a file (a FIFO, a device such as /dev/stdout) is
    written into, never replaced."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    if path.exists() and not path.is_file():  # both follow symlinks
        with path.open("wb") as handle:
            rows = write_export(engine, s, handle, fmt, since=since, user=user, chunk=chunk)
        return ExportResult(path, fmt, rows)
    target = Path(os.path.realpath(path))
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as handle:
            rows = write_export(engine, s, handle, fmt, since=since, user=user, chunk=chunk)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return ExportResult(path, fmt, rows)


def write_export(engine: Engine, s: AnalyticsSettings, handle: IO[bytes], fmt: str, *,
                 since: date | None = None, user: str | None = None, chunk: int = CHUNK) -> int:
    """Write the export to an open binary stream (a file, or stdout for csv and ndjson:
    Parquet needs a file); return how many rows."""
    rows = 0
    writer = _Writer(fmt, handle)
    for frame in frames(engine, s, since=since, user=user, chunk=chunk):
        writer.write(frame)
        rows += len(frame)
    writer.close()
    return rows


class _Writer:
    """Appends chunks to one open file in one format."""

    def __init__(self, fmt: str, handle: IO[bytes]) -> None:
        if fmt == "parquet":
            try:
                import pyarrow.parquet  # type: ignore[import-untyped]  # noqa: F401
            except ImportError as exc:
                raise PlexfmError("the Parquet export needs pyarrow (pip install pyarrow); "
                                  "csv and ndjson work without it") from exc
        self._fmt = fmt
        self._handle = handle
        self._parquet: Any = None
        self._header = True

    def write(self, frame: pd.DataFrame) -> None:
        if self._fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, schema=arrow_schema(), preserve_index=False)
            table = table.replace_schema_metadata(None)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._handle, table.schema,
                                                 compression="snappy")
            self._parquet.write_table(table)
            return
        text = frame.assign(played_at=_iso(frame["played_at"]), added_at=_iso(frame["added_at"]),
                            local_date=_iso(frame["local_date"], "D"))
        if self._fmt == "csv":
            text["loved"] = frame["loved"].map({True: "true", False: "false"})
            text[_TEXT] = formula_safe_frame(text[_TEXT])  # docs/export.md: formulas
            body = text.to_csv(index=False, header=self._header, lineterminator=LINE_END)
        else:
            body = text.to_json(orient="records", lines=True, force_ascii=False)
            body = body if body.endswith("\n") else body + "\n"
        self._handle.write(body.encode())
        self._header = False

    def close(self) -> None:
        if self._fmt == "parquet":
            if self._parquet is None:
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pylist([], schema=arrow_schema()), self._handle)
            else:
                self._parquet.close()
        elif self._fmt == "csv" and self._header:
            self._handle.write((",".join(COLUMNS) + LINE_END).encode())


def _iso(column: pd.Series, unit: Literal["s", "D"] = "s") -> pd.Series:
    """Timestamps as ISO 8601 text: 2021-03-28T01:00:00Z (unit "s", UTC) or 2021-03-28 (unit
    "D"); None when missing. Vectorised: strftime costs seconds per million rows."""
    values = column.dt.tz_localize(None) if column.dt.tz is not None else column
    stamps: npt.NDArray[np.datetime64] = values.to_numpy(dtype=f"datetime64[{unit}]")
    text = np.datetime_as_string(stamps, unit=unit)
    if unit == "s":
        text = np.char.add(text, "Z")
    return pd.Series(text, index=column.index, dtype=object).where(column.notna(), None)
