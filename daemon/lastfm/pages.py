"""Pages of user.getRecentTracks: their typed shape and parsing into records.

A page is parsed against a wall-clock time `now`: a scrobble dated outside the rule of
`daemon.scrobble.storable` (a millisecond timestamp read as seconds, 2**63, a negative
number) is skipped and counted like any other malformed item, so it never reaches the store
and the page still adds up to the total the server reported. Numbers in `@attr` beyond what
the API can serve make the whole page malformed (a transient error: asked again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from daemon.errors import LastfmTransientError
from daemon.scrobble import Scrobble, storable, storable_span

MAX_PAGE = 1_000_000
"""last.fm serves pages 1..1,000,000 of at most 1000 items: a count beyond is not a count."""
MAX_TOTAL = MAX_PAGE * 1000


@dataclass(frozen=True)
class RecentTracksPage:
    """One parsed page of user.getRecentTracks (the now-playing item already dropped)."""

    user: str
    page: int
    per_page: int
    total: int
    total_pages: int
    scrobbles: list[Scrobble]
    skipped: int
    now_playing: int


# Typed shapes of a getRecentTracks body: decoding straight into these skips the images and
# URLs we never use (4x faster than building dicts). Anything unexpected falls back to the
# generic path, which skips malformed items one by one.
class _Named(msgspec.Struct, gc=False):
    text: str = msgspec.field(name="#text", default="")
    name: str = ""
    mbid: str = ""


class _Date(msgspec.Struct, gc=False):
    uts: str


class _ItemAttr(msgspec.Struct, gc=False):
    nowplaying: str = ""


class _Item(msgspec.Struct, gc=False):
    name: str = ""
    artist: _Named | None = None
    album: _Named | None = None
    mbid: str = ""
    date: _Date | None = None
    loved: str | None = None
    attr: _ItemAttr | None = msgspec.field(name="@attr", default=None)


class _PageAttr(msgspec.Struct, gc=False):
    user: str = ""
    page: str = "1"
    perPage: str = "0"  # noqa: N815 - last.fm's own key
    total: str = "0"
    totalPages: str = "0"  # noqa: N815 - last.fm's own key


class _RecentTracks(msgspec.Struct, gc=False):
    track: list[_Item] | _Item = msgspec.field(default_factory=list)
    attr: _PageAttr = msgspec.field(name="@attr", default_factory=_PageAttr)


class _RecentTracksBody(msgspec.Struct, gc=False):
    recenttracks: _RecentTracks | None = None


_RECENT_TRACKS_DECODER = msgspec.json.Decoder(_RecentTracksBody)
_LOVED: dict[Any, int] = {"0": 0, "1": 1}
"""last.fm's loved flag; anything else is unknown (None), never a reason to lose the play."""


def _numbers(page: Any, per_page: Any, total: Any, total_pages: Any, what: str
             ) -> tuple[int, int, int, int]:
    """The page's four counts as ints; LastfmTransientError when one is not a sane count."""
    try:
        numbers = (int(page), int(per_page), int(total), int(total_pages))
    except (TypeError, ValueError) as exc:
        raise LastfmTransientError(f"last.fm response has bad page numbers ({what})") from exc
    if not all(0 <= n <= MAX_TOTAL for n in numbers):
        raise LastfmTransientError(f"last.fm response has impossible page numbers ({what})")
    return numbers


def fast_recent_tracks(content: bytes, status: int, user: str, what: str, now: float
                       ) -> RecentTracksPage | None:
    """Decode a well-formed page straight into records; None sends it down the generic path."""
    if status != 200:
        return None
    try:
        body = _RECENT_TRACKS_DECODER.decode(content).recenttracks
    except msgspec.DecodeError:
        return None
    if body is None or body.attr.user.casefold() != user.casefold():
        return None
    attr = body.attr
    numbers = _numbers(attr.page, attr.perPage, attr.total, attr.totalPages, what)
    items = [body.track] if isinstance(body.track, _Item) else body.track
    scrobbles: list[Scrobble] = []
    append = scrobbles.append
    record = tuple.__new__  # Scrobble(...) without its Python-level __new__
    loved = _LOVED.get
    lo, hi = storable_span(now)
    skipped = now_playing = 0
    for item in items:
        flags, artist, date, name = item.attr, item.artist, item.date, item.name
        if flags is not None and flags.nowplaying == "true":
            now_playing += 1
            continue
        if artist is None or date is None or not name:
            skipped += 1
            continue
        try:
            uts = int(date.uts)
        except ValueError:
            skipped += 1
            continue
        artist_name = artist.text or artist.name
        if not artist_name or not lo <= uts <= hi:
            skipped += 1
            continue
        album = item.album
        append(record(Scrobble, (
            uts, artist_name, name, album.text, artist.mbid, item.mbid, album.mbid,
            loved(item.loved),
        ) if album is not None else (
            uts, artist_name, name, "", artist.mbid, item.mbid, "", loved(item.loved),
        )))
    return RecentTracksPage(attr.user, *numbers, scrobbles, skipped, now_playing)


def parse_recent_tracks(data: dict[str, Any], user: str, what: str = "", *,
                        now: float) -> RecentTracksPage:
    """Parse a user.getRecentTracks body; malformed items are skipped and counted."""
    body = data.get("recenttracks")
    if not isinstance(body, dict):
        raise LastfmTransientError(f"last.fm response has no recenttracks ({what})")
    attr = body.get("@attr") or {}
    if not isinstance(attr, dict):
        raise LastfmTransientError(f"last.fm response has bad page numbers ({what})")
    numbers = _numbers(attr.get("page", 1), attr.get("perPage", 0), attr.get("total", 0),
                       attr.get("totalPages", 0), what)
    served_user = str(attr.get("user", user))
    if served_user.casefold() != user.casefold():
        raise LastfmTransientError(f"last.fm answered for another user ({what})")
    items = body.get("track", [])
    if isinstance(items, dict):
        items = [items]
    elif not isinstance(items, list):
        items = []
    scrobbles: list[Scrobble] = []
    skipped = now_playing = 0
    for item in items:
        try:
            item_attr = item.get("@attr")
            if item_attr and item_attr.get("nowplaying") == "true":
                now_playing += 1
                continue
            scrobble = _scrobble(item, now)
        except (KeyError, TypeError, ValueError, AttributeError):
            scrobble = None
        if scrobble is None:
            skipped += 1
        else:
            scrobbles.append(scrobble)
    return RecentTracksPage(served_user, *numbers, scrobbles, skipped, now_playing)


def _text(value: Any, key: str = "#text") -> str:
    """A name as text; ValueError when it cannot be stored (an unpaired surrogate)."""
    if isinstance(value, dict):
        value = value.get(key, value.get("name", ""))
    text = "" if value is None else value if isinstance(value, str) else str(value)
    text.encode("utf-8")  # UnicodeEncodeError is a ValueError: the item is skipped
    return text


def _scrobble(item: dict[str, Any], now: float) -> Scrobble | None:
    """One item as a record; None when it lacks a name or its date breaks the rule."""
    uts = int(item["date"]["uts"])
    artist = item["artist"]
    title = _text(item["name"])
    artist_name = _text(artist)
    if not artist_name or not title or not storable(uts, now):
        return None
    album = item.get("album")
    loved = item.get("loved")
    return Scrobble(
        uts, artist_name, title, _text(album),
        _text(artist.get("mbid", "")) if isinstance(artist, dict) else "",
        _text(item.get("mbid", "")),
        _text(album.get("mbid", "")) if isinstance(album, dict) else "",
        _LOVED.get(loved if isinstance(loved, str) else None),
    )
