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


def _indexed_mode(conn: sqlite3.Connection, table: str, column: str) -> str | None:
    """`_values_modes` of an indexed column, from its least and greatest values (index order:
    numbers < text < blobs)."""
    lo_type, hi_type, lo_ok, hi_ok = conn.execute(
        f'SELECT typeof((SELECT min("{column}") FROM "{table}")), '
        f'typeof((SELECT max("{column}") FROM "{table}")), '
        f'(SELECT min("{column}") FROM "{table}") GLOB :g, '
        f'(SELECT max("{column}") FROM "{table}") GLOB :g', {"g": LEGACY_GLOB}).fetchone()
    if (lo_type == "text" and not lo_ok) or (hi_type == "text" and not hi_ok):
        raise _not_a_timestamp(table, column)
    return _types_mode({t for t in (lo_type, hi_type) if t != "null"})


def _values_modes(conn: sqlite3.Connection, table: str,
                  columns: tuple[str, ...]) -> dict[str, str | None]:
    """The convention of each column's non-NULL values, "mixed", or None when there are none;
    the columns without an index read in one scan of the table (200,000 settings rows: 0.05 ->
    0.02 s, paid twice by every apply)."""
    found = {c: _indexed_mode(conn, table, c) for c in columns if (table, c) in INDEXED_TIMESTAMPS}
    scanned = [c for c in columns if c not in found]
    if not scanned:
        return found
    types: dict[str, set[str]] = {c: set() for c in scanned}
    for row in conn.execute("SELECT DISTINCT " + ", ".join(f'typeof("{c}")' for c in scanned)
                            + f' FROM "{table}"'):
        for column, kind in zip(scanned, row, strict=True):
            if kind != "null":
                types[column].add(kind)
    for column in scanned:
        if "text" in types[column] and conn.execute(
                f'SELECT 1 FROM "{table}" WHERE typeof("{column}") = \'text\' '
                f'AND "{column}" NOT GLOB ? LIMIT 1', (LEGACY_GLOB,)).fetchone() is not None:
            raise _not_a_timestamp(table, column)
        found[column] = _types_mode(types[column])
    return found


def _not_a_timestamp(table: str, column: str) -> PlexWriteError:
    return PlexWriteError(f"{table}.{column} holds text that is not a Plex timestamp; "
                          "refusing to write")


def detect_timestamp_mode(conn: sqlite3.Connection) -> str:
    """The DB's timestamp convention, checked column by column; `PlexWriteError` if unclear."""
    found: dict[str, str] = {}
    for table, columns in TIMESTAMP_COLUMNS.items():
        declared = {row[1]: str(row[2]) for row in conn.execute(f'PRAGMA table_info("{table}")')}
        missing = [column for column in columns if column not in declared]
        if missing:
            raise PlexWriteError(f"Plex's {table} has no {missing[0]} column; refusing to write")
        held = _values_modes(conn, table, columns)
        for column in columns:
            name = f"{table}.{column}"
            mode = _declared_mode(declared[column])
            values = held[column]
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
