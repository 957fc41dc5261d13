"""The music library over Plex's HTTP API, through plexapi (the real client).

plexapi does the talking (token header, client headers, status codes, XML parsing); this module
pages the section's ``/all`` listings itself and reads the attributes of the parsed XML
elements. It never builds plexapi ``Track`` objects: touching an attribute of one that parsed
to None or [] (``originalTitle``, ``guids``, ...) makes plexapi fetch ``/library/metadata/{id}``,
one request per track, which for 200,000 tracks is a day's work for the server. Requests made:
``/``, ``/library``, ``/library/sections``, then ``ceil(n / page_size)`` pages each of artists,
albums and tracks.

The token never reaches a message: every plexapi/requests exception becomes a `PlexError`
whose text is built here (plexapi's own messages may carry URLs), with the cause dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import requests
from plexapi.exceptions import NotFound, PlexApiException, Unauthorized
from plexapi.server import PlexServer

from daemon.errors import PlexError
from daemon.plex.library import LibraryTrack, mbid_of, track_artist

log = logging.getLogger(__name__)

TYPE_ARTIST, TYPE_ALBUM, TYPE_TRACK = 8, 9, 10
MUSIC_SECTION = "artist"  # plexapi's section.type for a music library
_STATUS = re.compile(r"^\((\d{3})\)")


class _Parent(NamedTuple):
    """What a track needs from its album or artist listing entry."""

    guid: str
    mbid: str
    year: int | None


def _where(url: str) -> str:
    """``scheme://host[:port][/path]`` of a server URL, without credentials or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'http'}://{host}{port}{parts.path.rstrip('/')}"


def _int(value: str | None) -> int | None:
    """An integer attribute, None when absent or unreadable."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _first_mbid(elem: Element) -> str:
    """The first ``<Guid id="mbid://...">`` child's bare id, "" without one."""
    for child in elem.iterfind("Guid"):
        mbid = mbid_of(child.get("id"))
        if mbid:
            return mbid
    return ""


class HttpLibrary:
    """A music section read over HTTP; the constructor connects and resolves the section.

    Raises `PlexError` (one line, no token) when the server is unreachable, rejects the token,
    or has no such music section.
    """

    def __init__(self, url: str, token: str, section: str = "Music", *, timeout: float = 30.0,
                 page_size: int = 1000, session: requests.Session | None = None) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._where = _where(url)
        self._timeout = timeout
        self._page_size = page_size
        with self._errors("connecting"):
            # plexapi is untyped: its objects stay Any inside this constructor
            server: Any = PlexServer(  # type: ignore[no-untyped-call]
                url, token, session=session or requests.Session(), timeout=timeout)
            sections: list[Any] = server.library.sections()
        self._query: Callable[..., Element | None] = server.query
        self._section_id, self._section_title = self._pick_section(sections, section)
        log.debug("Plex at %s: music section %s (%r)", self._where, self._section_id,
                  self._section_title)

    def _pick_section(self, sections: list[Any], wanted: str) -> tuple[int, str]:
        """(key, title) of the music section titled ``wanted`` (case-insensitive), or the first
        music section when ``wanted`` is ""; else a `PlexError` naming the music sections."""
        found = [(int(s.key), str(s.title or ""), s.type == MUSIC_SECTION) for s in sections]
        music = [(key, title) for key, title, is_music in found if is_music]
        name = wanted.strip().casefold()
        if not name and music:
            return music[0]
        for key, title in music:
            if title.strip().casefold() == name:
                return key, title
        if any(title.strip().casefold() == name for _, title, _ in found):
            raise PlexError(f"Plex at {self._where}: library section {wanted!r} is not a "
                            "music section")
        names = ", ".join(repr(title) for _, title in music) or "none"
        raise PlexError(f"Plex at {self._where}: no music library section {wanted!r} "
                        f"(music sections: {names})")

    def section_id(self) -> int:
        """The section key chosen at construction (= ``library_sections.id``)."""
        return self._section_id

    def tracks(self) -> Iterator[LibraryTrack]:
        """Every track of the section without ``deletedAt``, each once, in the server's order.

        Artists and albums are listed first (their guids, MusicBrainz ids and album years);
        tracks are then yielded page by page. A track element without a rating key or parents
        is skipped and counted in the log.
        """
        artists = dict(self._parents(TYPE_ARTIST, "listing artists"))
        albums = dict(self._parents(TYPE_ALBUM, "listing albums"))
        seen: set[int] = set()
        skipped = 0
        for elem in self._listing(TYPE_TRACK, "listing tracks"):
            if elem.get("deletedAt"):
                continue  # in Plex's trash
            track = _track(elem, albums, artists)
            if track is None:
                skipped += 1
                continue
            if track.rating_key not in seen:  # pages may shift if the library changes
                seen.add(track.rating_key)
                yield track
        if skipped:
            log.warning("Plex at %s: skipped %d malformed track entries", self._where, skipped)
        log.debug("Plex at %s: %d tracks listed", self._where, len(seen))

    def _parents(self, libtype: int, doing: str) -> Iterator[tuple[int, _Parent]]:
        for elem in self._listing(libtype, doing):
            key = _int(elem.get("ratingKey"))
            if key is not None:
                yield key, _Parent(elem.get("guid") or "", _first_mbid(elem),
                                   _int(elem.get("year")))

    def _listing(self, libtype: int, doing: str) -> Iterator[Element]:
        """Every element of ``/library/sections/{id}/all?type=..&includeGuids=1``, fetched in
        pages of ``page_size`` (``X-Plex-Container-Start/Size`` headers) until ``totalSize``."""
        key = f"/library/sections/{self._section_id}/all?type={libtype}&includeGuids=1"
        start = 0
        while True:
            headers = {"X-Plex-Container-Start": str(start),
                       "X-Plex-Container-Size": str(self._page_size)}
            with self._errors(doing):
                data = self._query(key, headers=headers)
            items = list(data) if data is not None else []
            yield from items
            start += len(items)
            total = _int(data.get("totalSize")) if data is not None else None
            if not items or (total is not None and start >= total):
                return

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn plexapi/requests failures into a `PlexError` with a message built here."""
        try:
            yield
        except Unauthorized:
            raise PlexError(f"Plex at {self._where} rejected the token (401 Unauthorized) "
                            f"while {doing}") from None
        except NotFound:
            raise PlexError(f"Plex at {self._where}: not found (404) while {doing}") from None
        except PlexApiException as exc:
            match = _STATUS.match(str(exc))
            status = f"HTTP {match.group(1)}" if match else type(exc).__name__
            raise PlexError(f"Plex at {self._where} answered {status} while {doing}") from None
        except requests.Timeout:
            raise PlexError(f"Plex at {self._where} did not answer within {self._timeout:g}s "
                            f"while {doing}") from None
        except requests.ConnectionError:
            raise PlexError(f"cannot connect to Plex at {self._where} while {doing}") from None
        except requests.RequestException as exc:
            raise PlexError(f"Plex at {self._where}: {type(exc).__name__} while {doing}"
                            ) from None
        except ParseError:
            raise PlexError(f"Plex at {self._where} sent unreadable XML while {doing}"
                            ) from None


def _track(elem: Element, albums: dict[int, _Parent],
           artists: dict[int, _Parent]) -> LibraryTrack | None:
    """A `LibraryTrack` from one ``<Track>`` element; None without a rating key or parents."""
    get = elem.get
    rating_key = _int(get("ratingKey"))
    album_key = _int(get("parentRatingKey"))
    artist_key = _int(get("grandparentRatingKey"))
    if rating_key is None or album_key is None or artist_key is None:
        return None
    album = albums.get(album_key)
    artist = artists.get(artist_key)
    album_artist = get("grandparentTitle") or ""
    return LibraryTrack(
        rating_key=rating_key, guid=get("guid") or "", title=get("title") or "",
        track_artist=track_artist(get("originalTitle"), album_artist), album_artist=album_artist,
        album=get("parentTitle") or "",
        album_year=album.year if album and album.year is not None else _int(get("parentYear")),
        track_number=_int(get("index")), disc_number=_int(get("parentIndex")),
        duration_ms=_int(get("duration")), album_rating_key=album_key,
        artist_rating_key=artist_key,
        album_guid=(album.guid if album else "") or get("parentGuid") or "",
        artist_guid=(artist.guid if artist else "") or get("grandparentGuid") or "",
        track_mbid=_first_mbid(elem), album_mbid=album.mbid if album else "",
        artist_mbid=artist.mbid if artist else "",
        added_at=_int(get("addedAt")), updated_at=_int(get("updatedAt")),
    )
