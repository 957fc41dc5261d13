"""The music library read straight from Plex's SQLite file, strictly read-only.

Plex keeps its DB in WAL mode and may have it open while we read. How a read opens the file:

* a ``-wal`` (or ``-shm``/``-journal``) file exists, or the DB is not in WAL mode: SQLite URI
  ``file:...?mode=ro&immutable=0`` with a busy timeout, in one read transaction, so the reader
  sees what Plex committed to the WAL and waits politely for locks. (SQLite's ``mode=ro`` on a
  WAL database creates ``-wal``/``-shm`` when they are missing; here they already exist.)
* WAL mode and no side file at all: nobody has the DB open, and a locking reader would leave a
  ``-wal`` and ``-shm`` behind next to the user's DB. So the read uses ``immutable=1`` (no locks,
  no side files) and then checks the file did not change meanwhile (no side file appeared;
  inode, size, mtime and ctime equal); if it did, the read is repeated the locking way.

Reads never sort by ``title_sort`` and never open the ``fts4_*_icu`` tables, so Plex's ICU
collation and tokenizer (absent from stock SQLite) never get in the way. The connection is also
``PRAGMA query_only``: this module cannot write Plex's DB even by mistake.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from daemon.errors import PlexError
from daemon.plex.library import LibraryTrack, mbid_of, track_artist

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_FORMAT = 2  # header bytes 18/19 (file format write/read version): 1 rollback, 2 WAL
MUSIC_SECTION_TYPE = 8
REQUIRED_TABLES = frozenset({"library_sections", "metadata_items", "tags", "taggings"})
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")

# Disc number: the column a real PMS keeps it in is not known (reference plex-database.md §5);
# the fixture DB (and its fake server's parentIndex) uses the track's absolute_index.
DISC_COLUMN = "absolute_index"

TRACKS_SQL = f"""
SELECT t.id, t.guid, t.title, t.original_title, ar.title, al.title, al.year, t."index",
       t.{DISC_COLUMN}, t.duration, al.id, ar.id, al.guid, ar.guid, t.added_at, t.updated_at
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


class _FileState(NamedTuple):
    """What tells whether the DB file changed, and whether anyone has it open in WAL mode."""

    side_files: tuple[str, ...]
    wal_format: bool
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @property
    def unopened_wal(self) -> bool:
        """True when the DB is in WAL mode and no process has side files next to it."""
        return self.wal_format and not self.side_files


def _file_state(path: Path) -> _FileState:
    """Stat the DB and its side files; raises OSError if the DB cannot be read."""
    with path.open("rb") as f:
        header = f.read(100)
        st = os.fstat(f.fileno())
    if not header.startswith(SQLITE_MAGIC):
        raise PlexError(f"{path} is not a Plex database (not an SQLite file)")
    side = tuple(s for s in SIDE_SUFFIXES if os.path.exists(f"{path}{s}"))
    wal = len(header) >= 20 and header[18] == WAL_FORMAT and header[19] == WAL_FORMAT
    return _FileState(side, wal, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


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
    transaction, closes the file, then yields.
    """

    def __init__(self, path: str, section: str = "Music", *, busy_timeout_ms: int = 15000) -> None:
        self._path = Path(path)
        self._busy_timeout_s = max(busy_timeout_ms, 0) / 1000
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
        started = time.perf_counter()
        result = [_track(row, mbids) for row in rows]
        log.debug("Plex DB %s: %d tracks built in %.2fs", self._path, len(result),
                  time.perf_counter() - started)
        yield from result

    def _fetch(self, conn: sqlite3.Connection,
               ) -> tuple[list[tuple[Any, ...]], dict[int, str]]:
        args = {"section": self._section_id}
        rows = conn.execute(TRACKS_SQL, args).fetchall()
        mbids = {int(r[0]): mbid_of(r[1]) for r in conn.execute(MBIDS_SQL)}
        return rows, mbids

    # opening ----------------------------------------------------------------------------------

    def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in one read transaction and return its result (see the module doc)."""
        before = self._state()
        if before.unopened_wal:
            try:
                result = self._run(work, immutable=True)
                if self._state() == before:
                    return result
            except PlexError as exc:  # e.g. a page changed under the lock-free reader
                log.debug("lock-free read of %s failed: %s", self._path, exc)
            log.info("Plex DB %s changed during a lock-free read; reading again with locks",
                     self._path)
        return self._run(work, immutable=False)

    def _state(self) -> _FileState:
        try:
            return _file_state(self._path)
        except OSError as exc:
            raise PlexError(f"cannot read Plex database {self._path}: "
                            f"{exc.strerror or type(exc).__name__}") from None

    def _run(self, work: Callable[[sqlite3.Connection], _T], *, immutable: bool) -> _T:
        uri = f"{self._path.absolute().as_uri()}?mode=ro&immutable={int(immutable)}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout_s,
                                   isolation_level=None)
        except sqlite3.Error as exc:
            raise PlexError(f"cannot open Plex database {self._path}: {exc}") from None
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("BEGIN")
            result = work(conn)
            conn.execute("COMMIT")
            return result
        except sqlite3.Error as exc:
            raise PlexError(f"cannot read Plex database {self._path}: {exc}") from None
        finally:
            conn.close()


def _catalog(conn: sqlite3.Connection) -> tuple[set[str], list[tuple[Any, ...]]]:
    """(table names, library_sections rows as (id, name, section_type)); no rows without the
    table."""
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    tables = {str(r[0]) for r in names}
    if "library_sections" not in tables:
        return tables, []
    rows = conn.execute("SELECT id, name, section_type FROM library_sections ORDER BY id")
    return tables, rows.fetchall()


def _track(row: tuple[Any, ...], mbids: dict[int, str]) -> LibraryTrack:
    """A `LibraryTrack` from one TRACKS_SQL row and the item -> MusicBrainz id map."""
    (rating_key, guid, title, original, artist, album, year, number, disc, duration,
     album_key, artist_key, album_guid, artist_guid, added, updated) = row
    artist = artist or ""
    return LibraryTrack(
        rating_key=rating_key, guid=guid or "", title=title or "",
        track_artist=track_artist(original, artist), album_artist=artist, album=album or "",
        album_year=_int(year), track_number=_int(number), disc_number=_int(disc),
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
