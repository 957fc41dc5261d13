"""The music library as one SQL SELECT over Plex's file attached to another connection.

`DatabaseLibrary.tracks` builds a `LibraryTrack` per row in Python; a caller that only copies
the listing into its own SQLite database (the store's mirror) can instead attach Plex's file
read-only (`ReadOnlyDatabase.read_attached`) and run `ATTACHED_SQL` inside its own INSERT: no
Python object per track. The SELECT gives exactly the rows `tracks` yields, one column per
`LibraryTrack` field, named after it (tests compare the two for every fixture shape):

* the same two queries (`TRACKS_SQL`, `MBIDS_SQL`): the MusicBrainz ids first into a temp
  table of the connection keyed by item (`ATTACHED_SETUP`, same transaction), then joined;
* the same conversions: NULL text as "", the track artist rule of `track_artist` (compared
  byte for byte: ``COLLATE BINARY``), and for any value that is not already an integer (legacy
  text timestamps, a sloppy number) the very Python functions `epoch` and `_int` of
  `daemon.plex.library_db`, registered on the connection for the read;
* the server's disc numbers (``discs``), passed as one JSON object.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, NamedTuple

from daemon.plex.library import MBID_PREFIX, LibraryTrack

SCHEMA = "plex"
COLUMNS = tuple(f.name for f in fields(LibraryTrack))
EPOCH_FUNCTION = "plexfm_plex_epoch"
INT_FUNCTION = "plexfm_plex_int"
MBIDS_TABLE = "temp.plexfm_plex_mbids"


class AttachedListing(NamedTuple):
    """What a caller runs, in this order and in one transaction, with Plex's file attached:
    the ``setup`` statements (they fill a temp table of the connection), then ``select``."""

    setup: tuple[str, ...]
    select: str
    params: dict[str, Any]


def _integer(column: str, function: str) -> str:
    """``column`` as is when SQLite holds an integer or NULL, else through ``function``."""
    return (f"CASE WHEN typeof({column}) IN ('integer', 'null') THEN {column}"
            f" ELSE {function}({column}) END")


ATTACHED_SETUP = (
    f"DROP TABLE IF EXISTS {MBIDS_TABLE}",
    f"CREATE TABLE {MBIDS_TABLE} (item INTEGER PRIMARY KEY, mbid TEXT NOT NULL)",
    # MBIDS_SQL keyed by item: three rowid lookups per track (from a CTE, SQLite built an
    # automatic index first: 0.3 s more for 200,000 tracks)
    f"""INSERT INTO {MBIDS_TABLE} (item, mbid)
    SELECT item, mbid FROM (
        SELECT tg.metadata_item_id AS item, MIN(tg.id),
               CASE WHEN substr(tags.tag, 1, {len(MBID_PREFIX)}) = '{MBID_PREFIX}' COLLATE BINARY
                    THEN substr(tags.tag, {len(MBID_PREFIX) + 1}) ELSE '' END AS mbid
        FROM {SCHEMA}.taggings tg
        JOIN {SCHEMA}.tags tags ON tags.id = tg.tag_id
        WHERE tags.tag_type = 314 AND tags.tag LIKE '{MBID_PREFIX}%'
        GROUP BY tg.metadata_item_id
    ) WHERE item IS NOT NULL""",
)
ATTACHED_CLEANUP = f"DROP TABLE IF EXISTS {MBIDS_TABLE}"

ATTACHED_SQL = f"""
WITH discs AS MATERIALIZED (
    SELECT CAST(key AS INTEGER) AS item, value AS disc FROM json_each(:discs)
)
SELECT t.id AS rating_key, coalesce(t.guid, '') AS guid, coalesce(t.title, '') AS title,
       CASE WHEN t.original_title IS NULL OR t.original_title = ''
                 OR t.original_title = coalesce(ar.title, '') COLLATE BINARY THEN ''
            ELSE t.original_title END AS track_artist,
       coalesce(ar.title, '') AS album_artist, coalesce(al.title, '') AS album,
       {_integer("al.year", INT_FUNCTION)} AS album_year,
       {_integer('t."index"', INT_FUNCTION)} AS track_number,
       d.disc AS disc_number,
       {_integer("t.duration", INT_FUNCTION)} AS duration_ms,
       al.id AS album_rating_key, ar.id AS artist_rating_key,
       coalesce(al.guid, '') AS album_guid, coalesce(ar.guid, '') AS artist_guid,
       coalesce(mt.mbid, '') AS track_mbid, coalesce(mal.mbid, '') AS album_mbid,
       coalesce(mar.mbid, '') AS artist_mbid,
       {_integer("t.added_at", EPOCH_FUNCTION)} AS added_at,
       {_integer("t.updated_at", EPOCH_FUNCTION)} AS updated_at
FROM {SCHEMA}.metadata_items t
JOIN {SCHEMA}.metadata_items al ON al.id = t.parent_id
JOIN {SCHEMA}.metadata_items ar ON ar.id = al.parent_id
LEFT JOIN {MBIDS_TABLE} mt ON mt.item = t.id
LEFT JOIN {MBIDS_TABLE} mal ON mal.item = al.id
LEFT JOIN {MBIDS_TABLE} mar ON mar.item = ar.id
LEFT JOIN discs d ON d.item = t.id
WHERE t.library_section_id = :section AND t.metadata_type = 10 AND t.deleted_at IS NULL
"""


def attached_listing(section_id: int, discs: dict[int, int]) -> AttachedListing:
    """The statements and parameters for a section and the server's disc numbers."""
    return AttachedListing(ATTACHED_SETUP, ATTACHED_SQL,
                           {"section": section_id, "discs": json.dumps(discs)})


@contextmanager
def conversions(conn: sqlite3.Connection, epoch: Callable[[Any], int | None],
                integer: Callable[[Any], int | None]) -> Iterator[None]:
    """`ATTACHED_SQL`'s two Python functions registered on ``conn`` for the read, then
    unset (Python 3.11 cannot unregister one: a later call raises)."""
    conn.create_function(EPOCH_FUNCTION, 1, epoch, deterministic=True)
    conn.create_function(INT_FUNCTION, 1, integer, deterministic=True)
    try:
        yield
    finally:
        conn.create_function(EPOCH_FUNCTION, 1, None)
        conn.create_function(INT_FUNCTION, 1, None)

