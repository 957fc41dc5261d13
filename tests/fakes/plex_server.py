"""A fake Plex Media Server on loopback that the real plexapi client accepts.

It serves a fixture DB (see `tests.fakes.plex_db`) the way PMS serves its library, re-reading
the file on every request (read-only, ``mode=ro``), so a test that changes the DB sees the
change at once. Endpoints (plexapi 4.18.3 call sequence, reference plex-database.md §4):

==========================================  ===================================================
``GET /``, ``/identity``                    server root (friendlyName, machineIdentifier, ...)
``GET /library``, ``/library/sections``     sections from ``library_sections`` (+ Location)
``GET /library/sections/{id}/all``          ``type=8|9|10`` (default 8), paged by
                                            ``X-Plex-Container-Start/Size`` headers *or* query
                                            params, ``totalSize``; ``title=`` (contains),
                                            ``sort=`` (titleSort, addedAt, index, duration,
                                            viewCount, lastViewedAt, ratingKey; ``:desc``);
                                            ``<Guid>`` children with ``includeGuids=1``
``GET /library/sections/{id}/albums``       same as ``all?type=9``
``GET /library/metadata/{id}[/children]``   one item (always with ``<Guid>``) / its children
``GET /:/scrobble``, ``/:/unscrobble``      recorded in `scrobble_calls`; see below
``GET /status/sessions``                    `FakeSession` list (`set_sessions`)
``GET /status/sessions/history/all``        ``metadata_item_views`` (sort, metadataItemID,
                                            accountID, librarySectionID, ``viewedAt>``)
``GET /accounts``                           ``accounts`` table
``GET /:/prefs``                            ButlerStartHour / ButlerEndHour (+ FriendlyName)
==========================================  ===================================================

Disc numbers (``parentIndex``) come from the fixture's own ``fixture_track_discs`` table
(which column of a real Plex DB holds them is unknown; docs/plex-fidelity.md).
Track XML carries ``viewCount`` / ``lastViewedAt`` / ``userRating`` from the token account's
``metadata_item_settings`` row (lowest id when duplicated), omitted when never played, like PMS.
Trashed items (``deleted_at``) are left out of ``/all`` listings [fixture decision].

Scrobbles: by default the DB is never written; ``/:/scrobble`` and ``/:/unscrobble`` go into an
in-memory overlay replayed over the DB values on every read. With ``scrobble_writes_db=True`` they
update ``metadata_item_settings`` in the file instead (``BEGIN IMMEDIATE``; no views row, as PMS
>= 1.40 does for "mark played"). Unscrobble resets the count to 0 like PMS "mark unplayed"
(``unscrobble="decrement"`` subtracts one instead). Sorting by viewCount/lastViewedAt uses the
DB values, not the overlay.

Wrong or missing token (``X-Plex-Token`` header or query param) -> 401, which plexapi raises
as ``Unauthorized``. Runnable: ``python -m tests.fakes.plex_server --db PATH --port N --token T``.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sqlite3
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LIBRARY_IDENTIFIER = "com.plexapp.plugins.library"
SECTION_TYPES = {1: "movie", 2: "show", 8: "artist", 13: "photo"}
UNAUTHORIZED_BODY = "<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>"  # noqa: E501
TRACK_SORTS = {
    "titleSort": "t.title_sort", "title": "t.title", "addedAt": "t.added_at", "index": 't."index"',
    "duration": "t.duration", "viewCount": "s.view_count", "lastViewedAt": "s.last_viewed_at",
    "ratingKey": "t.id", "updatedAt": "t.updated_at",
}


class HttpError(Exception):
    """Ends a request with an HTTP status (and a short text body)."""

    def __init__(self, status: int, body: str = "") -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class FakeSession:
    """Someone playing a track right now (``/status/sessions``)."""

    rating_key: int
    account_id: int = 1
    username: str = "owner"
    state: str = "playing"
    view_offset_ms: int = 0
    player: str = "Plexamp"
    machine_identifier: str = "fake-player-1"


@dataclass(frozen=True)
class ScrobbleCall:
    """One ``/:/scrobble`` or ``/:/unscrobble`` request as the server saw it."""

    action: str  # "scrobble" | "unscrobble"
    rating_key: int
    account_id: int
    identifier: str | None
    at: int


@dataclass(frozen=True)
class RequestRecord:
    """One request: method, path, query params, headers (minus the token), how the token came."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    token_via: str | None  # "header" | "query" | None


@dataclass
class _State:
    """Mutable state shared by the handler threads (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: list[FakeSession] = field(default_factory=list)
    scrobbles: list[ScrobbleCall] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    overlay: dict[tuple[int, str], list[tuple[str, int]]] = field(default_factory=dict)


def to_epoch(value: Any) -> int | None:
    """Integer seconds from a Plex DB value (epoch int, or legacy local-time text)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    return int(time.mktime(time.strptime(str(value)[:19], "%Y-%m-%d %H:%M:%S")))


def _xml(tag: str, attrs: Mapping[str, Any] | None = None,
         children: Iterable[ET.Element] = ()) -> ET.Element:
    """An element with the non-None attributes stringified."""
    elem = ET.Element(tag, {k: str(v) for k, v in (attrs or {}).items() if v is not None})
    elem.extend(children)
    return elem


class FakePlexServer:
    """The fake PMS; ``with FakePlexServer(db) as plex: PlexServer(plex.url, plex.token)``."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        token: str = "plex-token",  # noqa: S107  (a fake server's fixed test token)
        tokens: Mapping[str, int] | None = None,
        scrobble_writes_db: bool = False,
        unscrobble: str = "reset",
        butler_start_hour: int = 2,
        butler_end_hour: int = 5,
        sessions: Sequence[FakeSession] = (),
        friendly_name: str = "fake-pms",
        machine_identifier: str = "fake0001",
        version: str = "1.43.4.10903-fake",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if unscrobble not in ("reset", "decrement"):
            raise ValueError("unscrobble must be 'reset' or 'decrement'")
        self.db_path = Path(db_path)
        self.token = token
        self.tokens = dict(tokens) if tokens is not None else {token: 1}
        self.scrobble_writes_db = scrobble_writes_db
        self.unscrobble = unscrobble
        self.butler_start_hour = butler_start_hour
        self.butler_end_hour = butler_end_hour
        self.friendly_name = friendly_name
        self.machine_identifier = machine_identifier
        self.version = version
        self.clock = clock
        self._port = port
        self._state = _State(sessions=list(sessions))
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:PORT``); only valid after `start`."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> str:
        """Bind 127.0.0.1 (port 0 = any free port), serve in a thread, return the base URL."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="fake-plex", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> FakePlexServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # test controls --------------------------------------------------------------------------

    def set_sessions(self, sessions: Sequence[FakeSession]) -> None:
        """Replace the active sessions (someone starts/stops playing)."""
        with self._state.lock:
            self._state.sessions = list(sessions)

    @property
    def scrobble_calls(self) -> list[ScrobbleCall]:
        """Every scrobble/unscrobble request so far (a copy)."""
        with self._state.lock:
            return list(self._state.scrobbles)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far (a copy), for asserting what a client sent."""
        with self._state.lock:
            return list(self._state.requests)

    def sessions(self) -> list[FakeSession]:
        """The active sessions (a copy)."""
        with self._state.lock:
            return list(self._state.sessions)

    # db access ------------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A fresh read-only connection, closed afterwards (each request re-reads the file)."""
        if not self.db_path.exists():
            raise HttpError(500, "fixture db missing")
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def apply_overlay(self, account_id: int, guid: str, count: int | None,
                      last: int | None) -> tuple[int | None, int | None]:
        """Replay in-memory scrobbles over the DB's (view_count, last_viewed_at)."""
        with self._state.lock:
            ops = list(self._state.overlay.get((account_id, guid), ()))
        for action, at in ops:
            if action == "scrobble":
                count, last = (count or 0) + 1, at
            elif self.unscrobble == "reset":
                count, last = 0, None
            else:
                count = max((count or 0) - 1, 0)
        return count, last

    def has_overlay(self) -> bool:
        """True once any scrobble went into the in-memory overlay."""
        with self._state.lock:
            return bool(self._state.overlay)

    def record_request(self, record: RequestRecord) -> None:
        """Append to the request log."""
        with self._state.lock:
            self._state.requests.append(record)

    def scrobble(self, action: str, rating_key: int, account_id: int,
                 identifier: str | None) -> None:
        """Mark one item (an album or artist: all its tracks) played or unplayed."""
        now = int(self.clock())
        with self.read() as conn:
            guids = _leaf_guids(conn, rating_key)
        if guids is None:
            raise HttpError(404, "no such item")
        with self._state.lock:
            self._state.scrobbles.append(
                ScrobbleCall(action, rating_key, account_id, identifier, now))
            if not self.scrobble_writes_db:
                for guid in guids:
                    self._state.overlay.setdefault((account_id, guid), []).append((action, now))
        if self.scrobble_writes_db:
            _write_scrobble(self.db_path, action, guids, account_id, now, self.unscrobble)


def _leaf_guids(conn: sqlite3.Connection, rating_key: int) -> list[str] | None:
    """Guids of the tracks under an item (itself if it is a track); None if it does not exist."""
    row = conn.execute("SELECT metadata_type, guid FROM metadata_items WHERE id = ?",
                       (rating_key,)).fetchone()
    if row is None:
        return None
    if row["metadata_type"] != 8 and row["metadata_type"] != 9:
        return [row["guid"]]
    rows = conn.execute(
        "SELECT t.guid FROM metadata_items t WHERE t.metadata_type = 10 AND (t.parent_id = ?1 OR "
        "t.parent_id IN (SELECT id FROM metadata_items WHERE parent_id = ?1))", (rating_key,))
    return [r["guid"] for r in rows]


def _write_scrobble(db_path: Path, action: str, guids: list[str], account_id: int, now: int,
                    unscrobble: str) -> None:
    """Apply a scrobble to ``metadata_item_settings`` in the file (scrobble_writes_db=True)."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=10)
    try:
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'metadata_item_settings'"
                           ).fetchone()[0]
        stamp: int | str = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
                            if '"last_viewed_at" datetime' in ddl else now)
        conn.execute("BEGIN IMMEDIATE")
        for guid in guids:
            row = conn.execute("SELECT id FROM metadata_item_settings WHERE account_id = ? AND "
                               "guid = ? ORDER BY id LIMIT 1", (account_id, guid)).fetchone()
            if action == "scrobble" and row is None:
                conn.execute("INSERT INTO metadata_item_settings (account_id, guid, view_count, "
                             "last_viewed_at, created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?)",
                             (account_id, guid, stamp, stamp, stamp))
            elif action == "scrobble":
                conn.execute("UPDATE metadata_item_settings SET view_count = COALESCE(view_count, "
                             "0) + 1, last_viewed_at = ?, updated_at = ? WHERE id = ?",
                             (stamp, stamp, row[0]))
            elif row is not None and unscrobble == "reset":
                conn.execute("UPDATE metadata_item_settings SET view_count = 0, last_viewed_at = "
                             "NULL, updated_at = ? WHERE id = ?", (stamp, row[0]))
            elif row is not None:
                conn.execute("UPDATE metadata_item_settings SET view_count = MAX(COALESCE("
                             "view_count, 0) - 1, 0), updated_at = ? WHERE id = ?", (stamp, row[0]))
        conn.execute("COMMIT")
    finally:
        conn.close()


# --- queries and XML ---------------------------------------------------------------------------

SETTINGS_JOIN = """LEFT JOIN metadata_item_settings s ON s.id = (
    SELECT MIN(x.id) FROM metadata_item_settings x
    WHERE x.guid = t.guid AND +x.account_id = :account)"""

TRACK_SELECT = """
SELECT t.id, t.guid, t.title, t.title_sort, t."index" AS idx,
       (SELECT d.disc FROM fixture_track_discs d WHERE d.metadata_item_id = t.id) AS disc,
       t.original_title, t.duration, t.added_at, t.updated_at, t.deleted_at, t.library_section_id,
       al.id AS album_id, al.guid AS album_guid, al.title AS album_title, al.year AS album_year,
       ar.id AS artist_id, ar.guid AS artist_guid, ar.title AS artist_title,
       ls.name AS section_title, s.view_count, s.last_viewed_at, s.rating, s.skip_count,
       s.view_offset
FROM metadata_items t
JOIN metadata_items al ON al.id = t.parent_id
JOIN metadata_items ar ON ar.id = al.parent_id
LEFT JOIN library_sections ls ON ls.id = t.library_section_id
{settings}
"""

DIRECTORY_SELECT = """
SELECT m.id, m.guid, m.title, m.title_sort, m.metadata_type, m.year, m.studio, m.added_at,
       m.updated_at, m.originally_available_at, m.library_section_id, m."index" AS idx,
       p.id AS parent_id, p.guid AS parent_guid, p.title AS parent_title,
       ls.name AS section_title,
       (SELECT COUNT(*) FROM metadata_items c WHERE c.parent_id = m.id) AS child_count
FROM metadata_items m
LEFT JOIN metadata_items p ON p.id = m.parent_id
LEFT JOIN library_sections ls ON ls.id = m.library_section_id
"""
TRACK_SELECT = TRACK_SELECT.format(settings=SETTINGS_JOIN)


class _View:
    """Builds XML for one request from one read-only connection."""

    def __init__(self, fake: FakePlexServer, conn: sqlite3.Connection, account_id: int) -> None:
        self.fake = fake
        self.conn = conn
        self.account = account_id

    def guids(self, ids: Sequence[int]) -> dict[int, list[str]]:
        """External ids (tags of type 314) per item id."""
        result: dict[int, list[str]] = {}
        for chunk_start in range(0, len(ids), 900):
            chunk = list(ids[chunk_start:chunk_start + 900])
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                "SELECT tg.metadata_item_id AS item, tags.tag FROM taggings tg JOIN tags ON "
                "tags.id = tg.tag_id WHERE +tags.tag_type = 314 AND "
                f"tg.metadata_item_id IN ({marks}) ORDER BY tg.id", chunk)
            for row in rows:
                result.setdefault(row["item"], []).append(row["tag"])
        return result

    def media(self, ids: Sequence[int]) -> dict[int, ET.Element]:
        """One ``<Media><Part/></Media>`` per track id."""
        result: dict[int, ET.Element] = {}
        for chunk_start in range(0, len(ids), 900):
            chunk = list(ids[chunk_start:chunk_start + 900])
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                "SELECT mi.metadata_item_id AS item, mi.id, mi.duration, mi.bitrate, "
                "mi.audio_channels, mi.audio_codec, mi.container, mp.id AS part_id, mp.file, "
                "mp.size, mp.updated_at FROM media_items mi JOIN media_parts mp ON "
                f"mp.media_item_id = mi.id WHERE mi.metadata_item_id IN ({marks})", chunk)
            for r in rows:
                ext = r["container"]
                part = _xml("Part", {
                    "id": r["part_id"], "key": f"/library/parts/{r['part_id']}/"
                    f"{to_epoch(r['updated_at'])}/file.{ext}", "duration": r["duration"],
                    "file": r["file"], "size": r["size"], "container": ext})
                result[r["item"]] = _xml("Media", {
                    "id": r["id"], "duration": r["duration"], "bitrate": r["bitrate"],
                    "audioChannels": r["audio_channels"], "audioCodec": r["audio_codec"],
                    "container": ext}, [part])
        return result

    def track_elements(self, rows: Sequence[sqlite3.Row], *, with_guids: bool,
                       extra: Callable[[sqlite3.Row], Mapping[str, Any]] | None = None,
                       ) -> list[ET.Element]:
        """``<Track>`` elements for track rows from TRACK_SELECT."""
        ids = [r["id"] for r in rows]
        guids = self.guids(ids) if with_guids else {}
        media = self.media(ids)
        overlay = self.fake.has_overlay()
        elements = []
        for r in rows:
            count, last = r["view_count"], to_epoch(r["last_viewed_at"])
            if overlay:
                count, last = self.fake.apply_overlay(self.account, r["guid"], count, last)
            attrs = _track_attrs(r, count, last)
            if extra is not None:
                attrs.update(extra(r))
            children = [_xml("Guid", {"id": g}) for g in guids.get(r["id"], ())]
            if r["id"] in media:
                children.append(media[r["id"]])
            elements.append(_xml("Track", attrs, children))
        return elements

    def directory_elements(self, rows: Sequence[sqlite3.Row], *, with_guids: bool,
                           ) -> list[ET.Element]:
        """``<Directory type="artist|album">`` elements for rows from DIRECTORY_SELECT."""
        guids = self.guids([r["id"] for r in rows]) if with_guids else {}
        return [_xml("Directory", _directory_attrs(r),
                     [_xml("Guid", {"id": g}) for g in guids.get(r["id"], ())]) for r in rows]


def _track_attrs(r: sqlite3.Row, count: int | None, last: int | None) -> dict[str, Any]:
    section = r["library_section_id"]
    return {
        "ratingKey": r["id"], "key": f"/library/metadata/{r['id']}", "guid": r["guid"],
        "parentRatingKey": r["album_id"], "grandparentRatingKey": r["artist_id"],
        "parentGuid": r["album_guid"], "grandparentGuid": r["artist_guid"], "type": "track",
        "title": r["title"],
        "titleSort": r["title_sort"] if r["title_sort"] != r["title"] else None,
        "grandparentKey": f"/library/metadata/{r['artist_id']}",
        "parentKey": f"/library/metadata/{r['album_id']}",
        "librarySectionTitle": r["section_title"], "librarySectionID": section,
        "librarySectionKey": f"/library/sections/{section}",
        "grandparentTitle": r["artist_title"], "parentTitle": r["album_title"],
        "originalTitle": r["original_title"] or None, "summary": "", "index": r["idx"],
        "parentIndex": r["disc"] if r["disc"] is not None else 1,
        "parentYear": r["album_year"], "userRating": r["rating"],
        "viewOffset": r["view_offset"] or None, "viewCount": count or None,
        "skipCount": r["skip_count"] or None, "lastViewedAt": last,
        "thumb": f"/library/metadata/{r['album_id']}/thumb/{to_epoch(r['updated_at'])}",
        "duration": r["duration"], "addedAt": to_epoch(r["added_at"]),
        "updatedAt": to_epoch(r["updated_at"]), "deletedAt": to_epoch(r["deleted_at"]),
    }


def _directory_attrs(r: sqlite3.Row) -> dict[str, Any]:
    is_album = r["metadata_type"] == 9
    section = r["library_section_id"]
    released = to_epoch(r["originally_available_at"])
    attrs: dict[str, Any] = {
        "ratingKey": r["id"], "key": f"/library/metadata/{r['id']}/children", "guid": r["guid"],
        "type": "album" if is_album else "artist", "title": r["title"],
        "titleSort": r["title_sort"], "librarySectionTitle": r["section_title"],
        "librarySectionID": section, "librarySectionKey": f"/library/sections/{section}",
        "summary": "", "index": r["idx"] if r["idx"] is not None else 1,
        "addedAt": to_epoch(r["added_at"]), "updatedAt": to_epoch(r["updated_at"]),
    }
    if is_album:
        attrs.update({
            "parentRatingKey": r["parent_id"], "parentGuid": r["parent_guid"],
            "parentKey": f"/library/metadata/{r['parent_id']}", "parentTitle": r["parent_title"],
            "studio": r["studio"], "year": r["year"], "leafCount": r["child_count"],
            "originallyAvailableAt": (time.strftime("%Y-%m-%d", time.localtime(released))
                                      if released is not None else None),
        })
    return attrs


def _page(params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, int | None]:
    """(start, size) from query params, else X-Plex-Container-* headers; size None = all."""
    def pick(name: str) -> str | None:
        return params.get(name) if name in params else headers.get(name)

    try:
        start = int(pick("X-Plex-Container-Start") or 0)
        size_text = pick("X-Plex-Container-Size")
        size = int(size_text) if size_text not in (None, "") else None
    except ValueError as exc:
        raise HttpError(400, "bad container start/size") from exc
    return max(start, 0), (max(size, 0) if size is not None else None)


def _container(attrs: Mapping[str, Any], children: Iterable[ET.Element] = ()) -> ET.Element:
    elements = list(children)
    return _xml("MediaContainer", {"size": len(elements), **attrs}, elements)


@dataclass(frozen=True)
class _ListQuery:
    """One ``/all`` listing: counts and pages ids cheaply, so big libraries page fast.

    Paging fetches ids only (a rowid-order scan for the default order) and decorates just
    the page afterwards; the settings lookup is forced onto the guid index (``+account_id``).
    """

    section_id: int
    kind: int
    account: int
    title: str | None
    sort: str | None

    def _args(self) -> dict[str, Any]:
        return {"sid": self.section_id, "kind": self.kind, "account": self.account,
                "title": self.title}

    def count(self, conn: sqlite3.Connection) -> int:
        """``totalSize``: all minus trashed (both index-only), or a scan with a title filter."""
        args = self._args()
        if self.title:
            return int(conn.execute(
                "SELECT COUNT(*) FROM metadata_items WHERE library_section_id = :sid AND "
                "metadata_type = :kind AND deleted_at IS NULL AND "
                "title LIKE '%' || :title || '%'", args).fetchone()[0])
        every = conn.execute("SELECT COUNT(*) FROM metadata_items WHERE library_section_id = "
                             ":sid AND metadata_type = :kind", args).fetchone()[0]
        # ">= min int" is "IS NOT NULL" for ints and legacy text alike, but uses the index
        trashed = conn.execute("SELECT COUNT(*) FROM metadata_items WHERE +library_section_id "
                               "= :sid AND +metadata_type = :kind AND deleted_at >= "
                               "-9223372036854775808", args).fetchone()[0]
        return int(every - trashed)

    def page_ids(self, conn: sqlite3.Connection, start: int, size: int | None) -> list[int]:
        """The ids of one page, in listing order."""
        order = _order_by(self.sort)
        join = SETTINGS_JOIN if "s." in order else ""
        title = " AND t.title LIKE '%' || :title || '%'" if self.title else ""
        rows = conn.execute(
            f"SELECT t.id FROM metadata_items t {join} WHERE +t.library_section_id = :sid AND "
            f"+t.metadata_type = :kind AND +t.deleted_at IS NULL{title} ORDER BY {order} "
            "LIMIT :limit OFFSET :offset",
            {**self._args(), "limit": -1 if size is None else size, "offset": start})
        return [r[0] for r in rows]


def _rows_by_id(conn: sqlite3.Connection, select: str, alias: str, ids: list[int],
                account: int) -> list[sqlite3.Row]:
    """Rows of ``select`` for ``ids``, in the order of ``ids``."""
    rows = conn.execute(f"{select} WHERE {alias}.id IN (SELECT value FROM json_each(:ids))",
                        {"ids": json.dumps(ids), "account": account}).fetchall()
    position = {item: i for i, item in enumerate(ids)}
    return sorted(rows, key=lambda r: position[r["id"]])


def _order_by(sort: str | None) -> str:
    """ORDER BY for tracks from a ``sort=field[:desc],...`` param; unknown fields are ignored."""
    terms = []
    for part in (sort or "").split(","):
        name, _, direction = part.partition(":")
        column = TRACK_SORTS.get(name.strip())
        if column:
            terms.append(f"{column} {'DESC' if direction.lower() == 'desc' else 'ASC'}")
    return ", ".join([*terms, "t.id"])


# --- HTTP ---------------------------------------------------------------------------------------

ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/$"), "root"),
    (re.compile(r"^/identity/?$"), "identity"),
    (re.compile(r"^/library/?$"), "library"),
    (re.compile(r"^/library/sections/?$"), "sections"),
    (re.compile(r"^/library/sections/(\d+)/all/?$"), "section_all"),
    (re.compile(r"^/library/sections/(\d+)/albums/?$"), "section_albums"),
    (re.compile(r"^/library/metadata/(\d+)/?$"), "metadata"),
    (re.compile(r"^/library/metadata/(\d+)/children/?$"), "children"),
    (re.compile(r"^/:/scrobble/?$"), "scrobble"),
    (re.compile(r"^/:/unscrobble/?$"), "unscrobble"),
    (re.compile(r"^/status/sessions/?$"), "sessions"),
    (re.compile(r"^/status/sessions/history/all/?$"), "history"),
    (re.compile(r"^/accounts/?$"), "accounts"),
    (re.compile(r"^/:/prefs/?$"), "prefs"),
]


class _Handler(BaseHTTPRequestHandler):
    """Routes GET requests to ``do_<route>`` methods returning an XML element (or None)."""

    fake: FakePlexServer
    protocol_version = "HTTP/1.1"
    server_version = "PlexMediaServer/1.43.4-fake"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        """Authenticate, route, render."""
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        header_token = self.headers.get("X-Plex-Token")
        token = header_token or params.get("X-Plex-Token")
        via = "header" if header_token else "query" if "X-Plex-Token" in params else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "x-plex-token"}
        self.fake.record_request(RequestRecord("GET", split.path, params, headers, via))
        try:
            if token not in self.fake.tokens:
                raise HttpError(401, UNAUTHORIZED_BODY)
            account = self.fake.tokens[token]
            for pattern, name in ROUTES:
                match = pattern.match(split.path)
                if match:
                    elem = getattr(self, f"route_{name}")(account, params, *match.groups())
                    self._send(200, _serialise(elem) if elem is not None else b"")
                    return
            raise HttpError(404, "<html><body><h1>404 Not Found</h1></body></html>")
        except HttpError as err:
            self._send(err.status, err.body.encode())
        except sqlite3.Error as err:
            self._send(500, f"fixture db error: {err}".encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/xml;charset=utf-8" if status == 200
                         else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items()}

    # routes -------------------------------------------------------------------------------------

    def route_root(self, account: int, params: dict[str, str]) -> ET.Element:
        """``GET /``."""
        f = self.fake
        return _container({"friendlyName": f.friendly_name, "machineIdentifier":
                           f.machine_identifier, "version": f.version, "platform": "Linux",
                           "platformVersion": "6.1", "myPlex": "0", "allowSync": "1",
                           "transcoderAudio": "1", "updatedAt": int(f.clock())})

    def route_identity(self, account: int, params: dict[str, str]) -> ET.Element:
        """``GET /identity``."""
        return _container({"claimed": "1", "machineIdentifier": self.fake.machine_identifier,
                           "version": self.fake.version})

    def route_library(self, account: int, params: dict[str, str]) -> ET.Element:
        """``GET /library``."""
        return _container({"allowSync": "0", "identifier": LIBRARY_IDENTIFIER,
                           "title1": "Plex Library"}, [
            _xml("Directory", {"key": "sections", "title": "Library Sections"}),
            _xml("Directory", {"key": "recentlyAdded", "title": "Recently Added Content"}),
        ])

    def route_sections(self, account: int, params: dict[str, str]) -> ET.Element:
        """``GET /library/sections``."""
        with self.fake.read() as conn:
            sections = conn.execute("SELECT * FROM library_sections ORDER BY id").fetchall()
            locations = conn.execute("SELECT * FROM section_locations ORDER BY id").fetchall()
        directories = []
        for s in sections:
            locs = [_xml("Location", {"id": loc["id"], "path": loc["root_path"]})
                    for loc in locations if loc["library_section_id"] == s["id"]]
            directories.append(_xml("Directory", {
                "allowSync": "1", "art": "/:/resources/artist-fanart.jpg", "composite":
                f"/library/sections/{s['id']}/composite/{to_epoch(s['updated_at'])}",
                "filters": "1", "refreshing": "0", "key": s["id"],
                "type": SECTION_TYPES.get(s["section_type"], "artist"), "title": s["name"],
                "agent": s["agent"], "scanner": s["scanner"], "language": s["language"],
                "uuid": s["uuid"], "updatedAt": to_epoch(s["updated_at"]),
                "createdAt": to_epoch(s["created_at"]), "scannedAt": to_epoch(s["scanned_at"]),
                "content": "1", "directory": "1", "hidden": "0",
                "contentChangedAt": s["content_changed_at"]}, locs))
        return _container({"allowSync": "0", "title1": "Plex Library"}, directories)

    def route_section_all(self, account: int, params: dict[str, str], sid: str) -> ET.Element:
        """``GET /library/sections/{id}/all``: tracks, albums or artists, paged."""
        start, size = _page(params, self._headers())
        kind = int(params.get("type") or 8)
        if kind not in (8, 9, 10):
            raise HttpError(400, "fake supports type=8,9,10 only")
        with self.fake.read() as conn:
            section = conn.execute("SELECT * FROM library_sections WHERE id = ?",
                                   (int(sid),)).fetchone()
            if section is None:
                raise HttpError(404, "no such section")
            query = _ListQuery(int(sid), kind, account, params.get("title") or None,
                               params.get("sort") if kind == 10 else None)
            total = query.count(conn)
            ids = query.page_ids(conn, start, size)
            view = _View(self.fake, conn, account)
            with_guids = params.get("includeGuids") == "1"
            if kind == 10:
                items = view.track_elements(_rows_by_id(conn, TRACK_SELECT, "t", ids, account),
                                            with_guids=with_guids)
            else:
                items = view.directory_elements(
                    _rows_by_id(conn, DIRECTORY_SELECT, "m", ids, account), with_guids=with_guids)
        return _container({
            "totalSize": total, "offset": start, "allowSync": "1",
            "identifier": LIBRARY_IDENTIFIER, "librarySectionID": section["id"],
            "librarySectionTitle": section["name"], "librarySectionUUID": section["uuid"],
            "title1": section["name"], "title2": "All " + {8: "Artists", 9: "Albums",
                                                           10: "Tracks"}[kind],
            "viewGroup": {8: "artist", 9: "album", 10: "track"}[kind],
        }, items)

    def route_section_albums(self, account: int, params: dict[str, str], sid: str,
                             ) -> ET.Element:
        """``GET /library/sections/{id}/albums`` (plexapi ``MusicSection.albums()``)."""
        return self.route_section_all(account, {**params, "type": "9"}, sid)

    def route_metadata(self, account: int, params: dict[str, str], rk: str) -> ET.Element:
        """``GET /library/metadata/{id}``: one item, full (with ``<Guid>``)."""
        return self._items(account, "{a}.id = :rk", int(rk), one=True)

    def route_children(self, account: int, params: dict[str, str], rk: str) -> ET.Element:
        """``GET /library/metadata/{id}/children``: an artist's albums, an album's tracks."""
        return self._items(account, "{a}.parent_id = :rk AND {a}.deleted_at IS NULL", int(rk),
                           one=False)

    def _items(self, account: int, condition: str, rk: int, *, one: bool) -> ET.Element:
        with self.fake.read() as conn:
            view = _View(self.fake, conn, account)
            args = {"rk": rk, "account": account}
            target = conn.execute("SELECT metadata_type FROM metadata_items WHERE id = ?",
                                  (rk,)).fetchone()
            if target is None:
                raise HttpError(404, "no such item")
            kind = target[0] if one else target[0] + 1
            if kind == 10:
                rows = conn.execute(f"{TRACK_SELECT} WHERE {condition.format(a='t')} ORDER BY "
                                    'disc, t."index", t.id', args).fetchall()
                items = view.track_elements(rows, with_guids=True)
            else:
                rows = conn.execute(f"{DIRECTORY_SELECT} WHERE {condition.format(a='m')} "
                                    "ORDER BY m.id", args).fetchall()
                items = view.directory_elements(rows, with_guids=True)
        if one and not items:
            raise HttpError(404, "no such item")
        return _container({"allowSync": "1", "identifier": LIBRARY_IDENTIFIER}, items)

    def route_scrobble(self, account: int, params: dict[str, str]) -> None:
        """``GET /:/scrobble?key=&identifier=``: empty 200."""
        self._scrobble("scrobble", account, params)

    def route_unscrobble(self, account: int, params: dict[str, str]) -> None:
        """``GET /:/unscrobble?key=&identifier=``: empty 200."""
        self._scrobble("unscrobble", account, params)

    def _scrobble(self, action: str, account: int, params: dict[str, str]) -> None:
        try:
            rating_key = int(params["key"])
        except (KeyError, ValueError) as exc:
            raise HttpError(400, "key required") from exc
        self.fake.scrobble(action, rating_key, account, params.get("identifier"))

    def route_sessions(self, account: int, params: dict[str, str]) -> ET.Element:
        """``GET /status/sessions``."""
        sessions = self.fake.sessions()
        by_key = {s.rating_key: s for s in sessions}
        with self.fake.read() as conn:
            rows = conn.execute(f"{TRACK_SELECT} WHERE t.id IN (SELECT value FROM json_each(:ids))",
                                {"account": account, "ids": json.dumps(list(by_key))}).fetchall()
            elements = _View(self.fake, conn, account).track_elements(
                rows, with_guids=True, extra=lambda r: {"sessionKey": sessions.index(
                    by_key[r["id"]]) + 1, "viewOffset": by_key[r["id"]].view_offset_ms})
        for elem in elements:
            s = by_key[int(elem.attrib["ratingKey"])]
            elem.extend([
                _xml("User", {"id": s.account_id, "title": s.username}),
                _xml("Player", {"address": "127.0.0.1", "machineIdentifier":
                                s.machine_identifier, "platform": "Linux", "product": s.player,
                                "state": s.state, "title": s.player, "local": "1"}),
                _xml("Session", {"id": f"session-{elem.attrib['sessionKey']}", "bandwidth": 1411,
                                 "location": "lan"}),
            ])
        return _container({}, elements)

    def route_history(self, account: int, params: dict[str, str]) -> ET.Element:
        """``GET /status/sessions/history/all``: ``metadata_item_views`` rows."""
        start, size = _page(params, self._headers())
        where, args = _history_filter(params)
        order = {"viewedAt:desc": "v.viewed_at DESC, v.id DESC",
                 "viewedAt": "v.viewed_at, v.id", "viewedAt:asc": "v.viewed_at, v.id"}.get(
            params.get("sort", ""), "v.id")
        with self.fake.read() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM metadata_item_views v {where}",
                                 args).fetchone()[0]
            rows = conn.execute(
                "SELECT v.*, m.id AS rk, m.parent_id AS album_id, al.parent_id AS artist_id "
                "FROM metadata_item_views v LEFT JOIN metadata_items m ON m.id = (SELECT MIN(id) "
                "FROM metadata_items WHERE guid = v.guid) LEFT JOIN metadata_items al ON al.id = "
                f"m.parent_id {where} ORDER BY {order} LIMIT :limit OFFSET :offset",
                {**args, "limit": -1 if size is None else size, "offset": start}).fetchall()
        return _container({"totalSize": total, "offset": start},
                          [_history_element(r) for r in rows])

    def route_accounts(self, account: int, params: dict[str, str]) -> ET.Element:
        """``GET /accounts``."""
        with self.fake.read() as conn:
            rows = conn.execute("SELECT id, name FROM accounts ORDER BY id").fetchall()
        return _container({"identifier": LIBRARY_IDENTIFIER}, [
            _xml("Account", {"id": r["id"], "key": f"/accounts/{r['id']}", "name": r["name"],
                             "defaultAudioLanguage": "en", "autoSelectAudio": "1",
                             "defaultSubtitleLanguage": "en", "subtitleMode": "0"})
            for r in rows])

    def route_prefs(self, account: int, params: dict[str, str]) -> ET.Element:
        """``GET /:/prefs``: the Butler window (and the friendly name)."""
        f = self.fake
        hours = "|".join(f"{h}:{h}:00" for h in range(24))
        return _container({}, [
            _xml("Setting", {"id": "FriendlyName", "label": "Friendly name", "summary": "",
                             "type": "text", "default": "", "value": f.friendly_name,
                             "hidden": "0", "advanced": "0", "group": "general"}),
            _xml("Setting", {"id": "ButlerStartHour", "label": "Time at which tasks start to run",
                             "summary": "", "type": "int", "default": "2",
                             "value": f.butler_start_hour, "hidden": "0", "advanced": "0",
                             "group": "butler", "enumValues": hours}),
            _xml("Setting", {"id": "ButlerEndHour", "label": "Time at which tasks stop running",
                             "summary": "", "type": "int", "default": "5",
                             "value": f.butler_end_hour, "hidden": "0", "advanced": "0",
                             "group": "butler", "enumValues": hours}),
        ])


def _history_filter(params: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    clauses, args = [], {}
    try:
        if params.get("accountID"):
            clauses.append("v.account_id = :acc")
            args["acc"] = int(params["accountID"])
        if params.get("librarySectionID"):
            clauses.append("v.library_section_id = :sec")
            args["sec"] = int(params["librarySectionID"])
        if params.get("metadataItemID"):
            clauses.append("v.guid = (SELECT guid FROM metadata_items WHERE id = :item)")
            args["item"] = int(params["metadataItemID"])
        if params.get("viewedAt>"):
            clauses.append("v.viewed_at > :since")
            args["since"] = int(params["viewedAt>"])
    except ValueError as exc:
        raise HttpError(400, "bad history filter") from exc
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def _history_element(r: sqlite3.Row) -> ET.Element:
    types = {8: "artist", 9: "album", 10: "track"}
    return _xml("Track" if r["metadata_type"] == 10 else "Directory", {
        "historyKey": f"/status/sessions/history/{r['id']}",
        "key": f"/library/metadata/{r['rk']}" if r["rk"] is not None else None,
        "ratingKey": r["rk"], "librarySectionID": r["library_section_id"],
        "parentKey": f"/library/metadata/{r['album_id']}" if r["album_id"] else None,
        "grandparentKey": f"/library/metadata/{r['artist_id']}" if r["artist_id"] else None,
        "title": r["title"], "grandparentTitle": r["grandparent_title"],
        "parentTitle": r["parent_title"], "type": types.get(r["metadata_type"], "track"),
        "index": r["index"], "parentIndex": r["parent_index"],
        "viewedAt": to_epoch(r["viewed_at"]), "accountID": r["account_id"],
        "deviceID": r["device_id"], "thumb": r["thumb_url"],
    })


def _serialise(elem: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(elem, encoding="utf-8",
                                                                        xml_declaration=False)


# --- command line --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a fixture DB until SIGTERM/SIGINT; print one ``listening on URL`` line."""
    parser = argparse.ArgumentParser(description="Fake Plex Media Server over a fixture DB")
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="plex-token")
    parser.add_argument("--scrobble-writes-db", action="store_true")
    parser.add_argument("--butler-start-hour", type=int, default=2)
    parser.add_argument("--butler-end-hour", type=int, default=5)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = FakePlexServer(args.db, token=args.token, port=args.port,
                            scrobble_writes_db=args.scrobble_writes_db,
                            butler_start_hour=args.butler_start_hour,
                            butler_end_hour=args.butler_end_hour)
    url = server.start()
    print(f"listening on {url}", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
