"""How a Plex database stores timestamps: integer Unix seconds or legacy local-time strings.

Detected per column (declared type, ``typeof()`` of the values, and the values themselves);
a database that mixes conventions is refused rather than written in the wrong one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from daemon.errors import PlexWriteError
from daemon.plex.backup import SETTINGS_TABLE, VIEWS_TABLE

INTEGER_MODE = "integer"
LEGACY_MODE = "legacy-string"
TIMESTAMP_COLUMNS = {SETTINGS_TABLE: ("last_viewed_at", "created_at", "updated_at"),
                     VIEWS_TABLE: ("viewed_at",)}
INDEXED_TIMESTAMPS = frozenset({(VIEWS_TABLE, "viewed_at")})
LEGACY_GLOB = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]*"
LEGACY_FORMAT = "%Y-%m-%d %H:%M:%S"


def _declared_mode(declared: str) -> str | None:
    text = declared.lower()
    if "int" in text:
        return INTEGER_MODE
    if "date" in text or "time" in text:
        return LEGACY_MODE
    return None


def _types_mode(types: set[str]) -> str | None:
    if not types:
        return None
    if types <= {"integer", "real"}:
        return INTEGER_MODE
    return LEGACY_MODE if types == {"text"} else "mixed"


def _values_mode(conn: sqlite3.Connection, table: str, column: str) -> str | None:
    """The convention of a column's non-NULL values, "mixed", or None when there are none."""
    if (table, column) in INDEXED_TIMESTAMPS:  # index order: numbers < text < blobs
        lo_type, hi_type, lo_ok, hi_ok = conn.execute(
            f'SELECT typeof((SELECT min("{column}") FROM "{table}")), '
            f'typeof((SELECT max("{column}") FROM "{table}")), '
            f'(SELECT min("{column}") FROM "{table}") GLOB :g, '
            f'(SELECT max("{column}") FROM "{table}") GLOB :g', {"g": LEGACY_GLOB}).fetchone()
        types = {t for t in (lo_type, hi_type) if t != "null"}
        bad_text = (lo_type == "text" and not lo_ok) or (hi_type == "text" and not hi_ok)
    else:
        types = {row[0] for row in conn.execute(
            f'SELECT DISTINCT typeof("{column}") FROM "{table}" WHERE "{column}" IS NOT NULL')}
        bad_text = "text" in types and conn.execute(
            f'SELECT 1 FROM "{table}" WHERE typeof("{column}") = \'text\' '
            f'AND "{column}" NOT GLOB ? LIMIT 1', (LEGACY_GLOB,)).fetchone() is not None
    if bad_text:
        raise PlexWriteError(f"{table}.{column} holds text that is not a Plex timestamp; "
                             "refusing to write")
    return _types_mode(types)


def detect_timestamp_mode(conn: sqlite3.Connection) -> str:
    """The DB's timestamp convention, checked column by column; `PlexWriteError` if unclear."""
    found: dict[str, str] = {}
    for table, columns in TIMESTAMP_COLUMNS.items():
        declared = {row[1]: str(row[2]) for row in conn.execute(f'PRAGMA table_info("{table}")')}
        for column in columns:
            name = f"{table}.{column}"
            if column not in declared:
                raise PlexWriteError(f"Plex's {table} has no {column} column; refusing to write")
            mode = _declared_mode(declared[column])
            values = _values_mode(conn, table, column)
            if mode is None:
                raise PlexWriteError(f"{name} has an unknown timestamp type "
                                     f"{declared[column]!r}; refusing to write")
            if values == "mixed":
                raise PlexWriteError(f"{name} mixes integer and text timestamps; "
                                     "refusing to write")
            if values is not None and values != mode:
                raise PlexWriteError(f"{name} is declared {declared[column]} but holds "
                                     f"{values} timestamps; refusing to write")
            found[name] = mode
    if len(set(found.values())) > 1:
        detail = ", ".join(f"{name} {mode}" for name, mode in found.items())
        raise PlexWriteError(f"Plex's timestamps are mixed ({detail}); refusing to write")
    return next(iter(found.values()))


def to_db_time(mode: str) -> Callable[[int], int | str]:
    """Epoch seconds -> the DB's convention (legacy: local time of this process)."""
    if mode == INTEGER_MODE:
        return int
    return lambda epoch: time.strftime(LEGACY_FORMAT, time.localtime(epoch))


def epoch_sql(mode: str, expr: str) -> str:
    """SQL turning a timestamp column of the DB's convention into epoch seconds."""
    if mode == INTEGER_MODE:
        return f"CAST({expr} AS INTEGER)"
    return f"CAST(strftime('%s', {expr}, 'utc') AS INTEGER)"
