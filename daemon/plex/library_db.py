"""The music library read straight from Plex's SQLite file, strictly read-only.

Every read goes through `daemon.plex.readonly.ReadOnlyDatabase` (one read transaction, no
``-wal``/``-shm`` left behind, ``PRAGMA query_only``). Reads never sort by ``title_sort`` and
never open the ``fts4_*_icu`` tables, so Plex's ICU collation and tokenizer (absent from stock
SQLite) never get in the way.

Disc numbers: no public evidence tells which column of Plex's database holds a track's disc
number (the API's ``parentIndex``); ``absolute_index`` is what Plex's own migration
20180324032400 uses for collections (docs/plex-fidelity.md). So the database gives no disc
number (None), and when the server is configured its ``parentIndex`` is asked instead
(``discs``, see `daemon.plex.discs`). Matching never reads the disc number.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from daemon.errors import PlexError
from daemon.plex.library import LibraryTrack, mbid_of, track_artist
from daemon.plex.library_attach import (
    ATTACHED_CLEANUP,
    SCHEMA,
    AttachedListing,
    attached_listing,
    conversions,
)
from daemon.plex.readonly import ReadOnlyDatabase

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MUSIC_SECTION_TYPE = 8
REQUIRED_TABLES = frozenset({"library_sections", "metadata_items", "tags", "taggings"})

TRACKS_SQL = """
SELECT t.id, t.guid, t.title, t.original_title, ar.title, al.title, al.year, t."index",
       NULL, t.duration, al.id, ar.id, al.guid, ar.guid, t.added_at, t.updated_at
FROM metadata_items t
JOIN metadata_items al ON al.id = t.parent_id
JOIN metadata_items ar ON ar.id = al.parent_id
WHERE t.library_section_id = :section AND t.metadata_type = 10 AND t.deleted_at IS NULL
ORDER BY t.id
"""
# One MusicBrainz id per item: the first tagging (lowest taggings.id), the order in which the
# server lists an item's <Guid> children. SQLite takes the bare column from the MIN() row.
# Items of every section: only the section's tracks, albums and artists are looked up, and
# a join to metadata_items to filter them cost a random row read per item (half the query).
MBIDS_SQL = """
SELECT tg.metadata_item_id, tags.tag, MIN(tg.id)
FROM taggings tg
JOIN tags ON tags.id = tg.tag_id
WHERE tags.tag_type = 314 AND tags.tag LIKE 'mbid://%'
GROUP BY tg.metadata_item_id
"""


def epoch(value: Any) -> int | None:
    """Integer Unix seconds from a Plex timestamp: an integer (current Plex), or legacy
    ``'YYYY-MM-DD HH:MM:SS'`` local-time text (pre-2022 DBs); None for NULL or ""."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        date, _, clock = text[:19].partition(" ")
        year, month, day = (int(p) for p in date.split("-"))
        hour, minute, second = (int(p) for p in clock.split(":")) if clock else (0, 0, 0)
        return int(time.mktime((year, month, day, hour, minute, second, 0, 0, -1)))
    except (ValueError, OverflowError):
        log.warning("unreadable Plex timestamp %r; treated as missing", text)
        return None


class DatabaseLibrary:
    """A music section of Plex's library DB file, opened read-only for every read.

    The constructor checks the file and resolves the section (raising `PlexError` with a
    one-line message naming the path and the section); `tracks` reads everything in one read
    transaction, closes the file, then yields. ``discs``, when given, is asked once per
    listing (with the section id) for ``rating_key -> disc number`` (the server's
    ``parentIndex``); a failure there leaves the disc numbers unknown (None) and the listing
    goes on.
    """

    def __init__(self, path: str, section: str = "Music", *, busy_timeout_ms: int = 15000,
                 discs: Callable[[int], dict[int, int]] | None = None) -> None:
        self._path = Path(path)
        self._db = ReadOnlyDatabase(self._path, busy_timeout_ms=busy_timeout_ms)
        self._discs = discs
        if not self._path.is_file():
            raise PlexError(f"Plex database not found: {self._path}")
        tables, sections = self._read(_catalog)
        missing = sorted(REQUIRED_TABLES - tables)
        if missing:
            raise PlexError(f"{self._path} is not a Plex database (no table {missing[0]})")
        self._section_id, self._section_title = self._pick_section(sections, section)
        log.debug("Plex DB %s: music section %s (%r)", self._path, self._section_id,
                  self._section_title)

    def _pick_section(self, rows: list[tuple[Any, ...]], wanted: str) -> tuple[int, str]:
        """(id, title) of the music section titled ``wanted`` (case-insensitive); the first
        music section when ``wanted`` is ""; else a `PlexError` listing the music sections."""
        music = [(int(r[0]), str(r[1] or "")) for r in rows if r[2] == MUSIC_SECTION_TYPE]
        key = wanted.strip().casefold()
        if not key and music:
            return music[0]
        for section_id, title in music:
            if title.strip().casefold() == key:
                return section_id, title
        others = [str(r[1]) for r in rows if r[2] != MUSIC_SECTION_TYPE]
        if any(title.strip().casefold() == key for title in others):
            raise PlexError(f"{self._path}: library section {wanted!r} is not a music section")
        names = ", ".join(repr(title) for _, title in music) or "none"
        raise PlexError(f"{self._path}: no music library section {wanted!r} "
                        f"(music sections: {names})")

    def section_id(self) -> int:
        """The ``library_sections.id`` chosen at construction."""
        return self._section_id

    def tracks(self) -> Iterator[LibraryTrack]:
        """Every track of the section without ``deleted_at``, in ``rating_key`` order.

        Two set-based SELECTs in one read transaction (tracks joined to their albums and
        artists; MusicBrainz ids grouped per item), then the file is closed, before the first
        track is yielded; a read failure raises `PlexError` on the first ``next()``.
        """
        rows, mbids = self._read(self._fetch)
        discs = self._disc_numbers()
        started = time.perf_counter()
        result = [_track(row, mbids, discs) for row in rows]
        log.debug("Plex DB %s: %d tracks built in %.2fs", self._path, len(result),
                  time.perf_counter() - started)
        yield from result

    def attached_tracks(self, conn: sqlite3.Connection,
                        work: Callable[[AttachedListing], _T]) -> _T:
        """The listing for a caller copying it into its own SQLite database: the file is
        attached read-only to ``conn`` (in no transaction, URI filenames allowed) and
        ``work(listing)`` runs there: its SELECT gives the very rows `tracks` yields, as
        columns named after the `LibraryTrack` fields (`daemon.plex.library_attach`).
        ``work`` must run the listing's statements in one transaction and may be called
        twice (a lock-free read that saw the file change is repeated with locks); SQLite
        errors become `PlexError`. The temp table the statements fill is dropped after."""
        listing = attached_listing(self._section_id, self._disc_numbers())
        try:
            with conversions(conn, epoch, _int):
                return self._db.read_attached(conn, SCHEMA, lambda: work(listing))
        finally:
            conn.execute(ATTACHED_CLEANUP)

    def _disc_numbers(self) -> dict[int, int]:
        if self._discs is None:
            return {}
        try:
            return self._discs(self._section_id)
        except PlexError as exc:
            log.warning("disc numbers unknown this time (%s)", exc)
            return {}

    def _fetch(self, conn: sqlite3.Connection,
               ) -> tuple[list[tuple[Any, ...]], dict[int, str]]:
        args = {"section": self._section_id}
        rows = conn.execute(TRACKS_SQL, args).fetchall()
        mbids = {int(r[0]): mbid_of(r[1]) for r in conn.execute(MBIDS_SQL)}
        return rows, mbids

    def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in one read transaction (`ReadOnlyDatabase.read`)."""
        return self._db.read(work)


def _catalog(conn: sqlite3.Connection) -> tuple[set[str], list[tuple[Any, ...]]]:
    """(table names, library_sections rows as (id, name, section_type)); no rows without the
    table."""
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    tables = {str(r[0]) for r in names}
    if "library_sections" not in tables:
        return tables, []
    rows = conn.execute("SELECT id, name, section_type FROM library_sections ORDER BY id")
    return tables, rows.fetchall()


def _track(row: tuple[Any, ...], mbids: dict[int, str], discs: dict[int, int]) -> LibraryTrack:
    """A `LibraryTrack` from one TRACKS_SQL row, the item -> MusicBrainz id map and the
    rating key -> disc number map (the server's, possibly empty)."""
    (rating_key, guid, title, original, artist, album, year, number, disc, duration,
     album_key, artist_key, album_guid, artist_guid, added, updated) = row
    artist = artist or ""
    return LibraryTrack(
        rating_key=rating_key, guid=guid or "", title=title or "",
        track_artist=track_artist(original, artist), album_artist=artist, album=album or "",
        album_year=_int(year), track_number=_int(number),
        disc_number=discs.get(rating_key, _int(disc)),
        duration_ms=_int(duration), album_rating_key=album_key, artist_rating_key=artist_key,
        album_guid=album_guid or "", artist_guid=artist_guid or "",
        track_mbid=mbids.get(rating_key, ""), album_mbid=mbids.get(album_key, ""),
        artist_mbid=mbids.get(artist_key, ""), added_at=epoch(added), updated_at=epoch(updated),
    )


def _int(value: Any) -> int | None:
    """An int column value (SQLite may hand back text or a float for a sloppy row)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
