"""A faithful, fast fake of the last.fm web service (``/2.0/``) on loopback.

Used by tests, benchmarks and the demo. It speaks the protocol as the project's last.fm
research notes describe it (lastfm-api.md §1-§3 and the §6 fake server checklist):

* GET query or POST form; ``method`` case-insensitive; ``format=json`` (anything else gets an
  XML error so a client that forgets ``format=json`` fails loudly instead of silently).
* ``user.getRecentTracks`` (newest first, ``limit``/``page`` bounds, half-open ``[from, to)``,
  ``@attr`` strings, now-playing extra item on page 1, ``extended=1``, optional single-object
  ``track``), ``user.getInfo``, ``artist.getTopTags``, ``track.getTopTags``.
* Error bodies ``{"message":...,"error":N}`` with the real HTTP statuses.
* Deterministic fault injection (``fake.faults``), latency, a 1-second sliding-window rate
  limit, request hooks and a request log (``fake.requests``) for pacing checks. Hostile
  transports too: a body dripped one byte at a time (``drip``; ``drip_head`` from the status
  line on), a huge body (``huge_body``) and a gzip bomb (``gzip_bomb``), both streamed
  without holding them in memory, and a scrobble time out of range (``bad_uts``).

Pages are rendered from cached JSON fragments (per artist, album and track) joined with the
per-scrobble date, so a 1000-item page takes about a millisecond or two. ``prerender()`` (the
``--prerender`` flag, used by the benchmarks) renders every history once, up front: pages are
then joined from those parts without per-item Python work, so the fake's CPU does not compete
with the client measured on the same machine. The bytes served are the same either way; a
page a fault changes, or a history changed since, is rendered as before.

Run standalone: ``python -m tests.fakes.lastfm_server --port 8765 --api-key KEY --user alice
--scrobbles 100000 --seed 1``; it prints ``listening on <url>`` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import functools
import gzip
import itertools
import json
import logging
import math
import random
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

from daemon.scrobble import Scrobble

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef"
RECORDED_USER = "IvanMalison"
FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "lastfm"
FIXTURE_FILES = (
    "recenttracks-2026-04-12-page1-limit200.json",
    "recenttracks-2026-07-03-page1-limit200.json",
    "recenttracks-2026-07-03-window-from1783050940-to1783056851.json",
)
MAX_PAGE = 1_000_000
DEFAULT_LIMIT = 50

MSG_MISSING_PARAM = "Invalid parameters - Your request is missing a required parameter"
MSG_BAD_KEY = "Invalid API key - You must be granted a valid key by last.fm"
MSG_SUSPENDED = (
    "Suspended API key - Access for your account has been suspended, please contact Last.fm"
)
MSG_BAD_METHOD = "Invalid Method - No method with that name in this package"
MSG_USER_NOT_FOUND = "User not found"
MSG_PRIVATE = "Login: User required to be logged in"
MSG_PAGE_BOUNDS = "page param out of bounds (1-1000000)"
MSG_ARTIST_NOT_FOUND = "The artist you supplied could not be found"
MSG_TRACK_NOT_FOUND = "Track not found"
MSG_OPERATION_FAILED = (
    "Operation failed - Most likely the backend service failed. Please try again."
)
MSG_OFFLINE = "Service Offline - This service is temporarily offline. Try again later."
MSG_TEMPORARY = "There was a temporary error processing your request. Please try again"
MSG_RATE_LIMIT = (
    "Rate Limit Exceeded - This application has made too many requests in a short period. "
    "If this is your API key, see https://www.last.fm/api/tos#4.4 for information about "
    "raising the limit."
)
MSG_INVALID_FORMAT = "Invalid format - This service doesn't exist in that format"

IMAGE_BASE = "https://lastfm.freetls.fastly.net/i/u/"
IMAGE_SIZES = (("small", "34s"), ("medium", "64s"), ("large", "174s"), ("extralarge", "300x300"))
PLACEHOLDER_IMAGE = "2a96cbd8b46e442fc41c2b86b821562f.png"
MUSIC_URL = "https://www.last.fm/music/"
# a lone surrogate in a name goes out as the JSON escape "\ud800", as a hostile server sends it
JSON_UTF8 = ("utf-8", "backslashreplace")
HOURS_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}".encode() for m in range(1440))
TAIL = b',"date":{"uts":"%d","#text":"%s%s"}%s}'  # an item after its head (`Renderer.parts`)
LOVED, UNLOVED = b',"loved":"1"', b',"loved":"0"'
HEAD_CACHE_SIZE = 400_000  # distinct tracks whose rendered head is kept (about 800 B each)
STATIC_HEADERS = (
    "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: POST, GET, OPTIONS\r\n"
    "Access-Control-Max-Age: 86400\r\nVia: 1.1 google\r\n"
)
MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GENRES = (
    "rock", "indie", "electronic", "pop", "jazz", "hip-hop", "folk", "metal", "soul", "punk",
    "alternative", "ambient", "classical", "funk", "blues", "country", "reggae", "k-pop",
    "seen live", "favorites",
)

# Fault kinds: raised before the method runs, applied to a recent-tracks page, or transport-level.
ERROR_FAULTS: dict[str, tuple[int, int, str]] = {
    "error8": (500, 8, MSG_OPERATION_FAILED),
    "error11": (503, 11, MSG_OFFLINE),
    "error16": (500, 16, MSG_TEMPORARY),
    "error29": (429, 29, MSG_RATE_LIMIT),
}
HTTP_FAULTS = {"http500": "Internal Server Error", "http502": "Bad Gateway",
               "http503": "Service Temporarily Unavailable"}
PRE_FAULTS = frozenset({*ERROR_FAULTS, *HTTP_FAULTS, "truncated", "disconnect",
                        "user_not_found"})
PAGE_FAULTS = frozenset({"empty_page", "total_drift", "wrong_user", "bad_uts"})
DELAY_FAULTS = frozenset({"slow"})
# answered normally, then sent in a hostile way (see _Handler._send)
SHAPE_FAULTS = frozenset({"drip", "drip_head", "huge_body", "gzip_bomb"})
FAULT_KINDS = PRE_FAULTS | PAGE_FAULTS | DELAY_FAULTS | SHAPE_FAULTS
MS_TIMESTAMP = 1_796_470_000_000  # a millisecond time read as seconds: year 58897
PAD_CHUNK = b" " * (1 << 20)  # JSON allows any whitespace before the value

Params = dict[str, str]


# --------------------------------------------------------------------------------------------
# JSON helpers (PHP style: raw UTF-8, escaped slashes)


def jstr(value: str) -> str:
    """A JSON string literal the way last.fm writes it: UTF-8 kept, ``/`` escaped."""
    return json.dumps(value, ensure_ascii=False).replace("/", "\\/")


def dumps(obj: Any) -> str:
    """Compact JSON of ``obj`` with PHP-style escaped slashes."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")


def url_part(name: str) -> str:
    """A name as last.fm puts it in a URL path (``'`` -> %27, ``+`` -> %252B, ``/`` -> %2F)."""
    return quote_plus(name, safe="!$&()*,;:@~", errors=JSON_UTF8[1]).replace("%2B", "%252B")


def date_text(uts: int) -> str:
    """``date.#text`` of a scrobble: ``"03 Jul 2026, 07:25"`` (UTC, zero-padded day)."""
    tm = time.gmtime(uts)
    return f"{tm.tm_mday:02d} {MONTHS[tm.tm_mon]} {tm.tm_year}, {tm.tm_hour:02d}:{tm.tm_min:02d}"


def image_json(image: str) -> str:
    """The 4-size ``image`` array for an image file name (``""`` -> empty URLs)."""
    parts = []
    for size, path in IMAGE_SIZES:
        url = f"{IMAGE_BASE}{path}/{image}" if image else ""
        parts.append(f'{{"size":"{size}","#text":{jstr(url)}}}')
    return "[" + ",".join(parts) + "]"


def synthetic_image(artist: str, album: str) -> str:
    """A stable, realistic-looking image file name for an (artist, album)."""
    if not album:
        return ""
    digest = zlib.crc32(f"{artist}\0{album}".encode(*JSON_UTF8)) & 0xFFFFFFFF
    ext = "png" if digest % 4 == 0 else "jpg"
    return f"{digest:08x}" * 4 + "." + ext



# --------------------------------------------------------------------------------------------
# Rendering of recent-track items


class Renderer:
    """Renders scrobbles to JSON item fragments from cached per-artist/album/track parts.

    ``images`` ((artist, album) -> image file name, "" for none) and ``noredirect`` (artists
    whose track URLs carry ``/+noredirect/``) let a replayed history reproduce recorded items
    byte for byte. Change them before the first render (or call ``clear()``).
    """

    def __init__(self) -> None:
        self.images: dict[tuple[str, str], str] = {}
        self.noredirect: set[tuple[str, str]] = set()
        self._artists: dict[tuple[str, str, bool], str] = {}
        self._albums: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._tracks: dict[tuple[str, str], str] = {}
        self.generation = 0
        self.clear()

    def clear(self) -> None:
        self.generation += 1  # pages pre-rendered before no longer match
        self._artists = {}
        self._albums = {}
        self._tracks = {}
        self._heads: dict[tuple[object, ...], bytes] = {}
        self._heads_ext: dict[tuple[object, ...], bytes] = {}
        self._days: dict[int, bytes] = {}

    def item(self, s: Scrobble, extended: bool) -> bytes:
        """One scrobbled item: ``{artist,streamable,image,mbid,album,name,url,date[,loved]}``."""
        head, rest = self.parts(s, extended)
        return head + rest

    def parts(self, s: Scrobble, extended: bool) -> tuple[bytes, bytes]:
        """``item(s, extended)`` cut in two: its head (one object shared by every play of the
        track) and the rest, so that ``head + rest == item(s, extended)``."""
        heads = self._heads_ext if extended else self._heads
        head = heads.get(s[1:7])
        if head is None:
            head = self._head(s, extended)
        uts = s[0]
        day = self._days.get(uts // 86400)
        if day is None:
            day = self._day(uts)
        loved = (LOVED if s[7] else UNLOVED) if extended else b""
        return head, TAIL % (uts, day, HOURS_MINUTES[uts % 86400 // 60], loved)

    def now_playing(self, s: Scrobble, extended: bool) -> bytes:
        """The now-playing item: ``@attr.nowplaying`` first, no ``date``."""
        loved = (LOVED if s.loved else UNLOVED) if extended else b""
        return b'{"@attr":{"nowplaying":"true"},' + self._head(s, extended)[1:] + loved + b"}"

    def _day(self, uts: int) -> bytes:
        try:
            text = date_text(uts)[:-5].encode()
        except (OverflowError, OSError, ValueError):  # a "bad_uts" beyond any calendar
            text = b"01 Jan 1970, "
        self._days[uts // 86400] = text
        return text

    def _head(self, s: Scrobble, extended: bool) -> bytes:
        """``{`` and everything of an item before ``date``, UTF-8 (cached per distinct track)."""
        artist = self._artists.get((s.artist, s.artist_mbid, extended))
        if artist is None:
            artist = self._artist_part(s.artist, s.artist_mbid, extended)
        album = self._albums.get((s.artist, s.album, s.album_mbid))
        if album is None:
            album = self._album_part(s.artist, s.album, s.album_mbid)
        track = self._tracks.get((s.artist, s.title))
        if track is None:
            track = self._track_part(s.artist, s.title)
        head = (f'{{"artist":{artist},"streamable":"0","image":{album[0]},'
                f'"mbid":{jstr(s.track_mbid)},"album":{album[1]},{track}').encode(*JSON_UTF8)
        heads = self._heads_ext if extended else self._heads
        if len(heads) >= HEAD_CACHE_SIZE:
            heads.clear()
        heads[s[1:7]] = head
        return head

    def _artist_part(self, name: str, mbid: str, extended: bool) -> str:
        if extended:
            url = MUSIC_URL + url_part(name)
            part = (f'{{"url":{jstr(url)},"mbid":{jstr(mbid)},"image":'
                    f'{image_json(PLACEHOLDER_IMAGE)},"name":{jstr(name)}}}')
        else:
            part = f'{{"mbid":{jstr(mbid)},"#text":{jstr(name)}}}'
        self._artists[(name, mbid, extended)] = part
        return part

    def _album_part(self, artist: str, album: str, mbid: str) -> tuple[str, str]:
        image = self.images.get((artist, album))
        if image is None:
            image = synthetic_image(artist, album)
        part = (image_json(image), f'{{"mbid":{jstr(mbid)},"#text":{jstr(album)}}}')
        self._albums[(artist, album, mbid)] = part
        return part

    def _track_part(self, artist: str, title: str) -> str:
        prefix = MUSIC_URL + ("+noredirect/" if (artist, title) in self.noredirect else "")
        url = f"{prefix}{url_part(artist)}/_/{url_part(title)}"
        part = f'"name":{jstr(title)},"url":{jstr(url)}'
        self._tracks[(artist, title)] = part
        return part


# --------------------------------------------------------------------------------------------
# Users and their histories


@dataclass(frozen=True, slots=True)
class Prerendered:
    """Every item of a history rendered in one form, as head and tail (see Renderer.parts),
    each tail followed by the comma that separates it from the next item."""

    extended: bool
    generation: int  # the renderer's, when rendered
    heads: list[bytes]
    tails: list[bytes]

    def parts(self, start: int, end: int) -> list[bytes]:
        """Items start..end-1 (end > start) as the pieces of a page's ``track`` array, for
        one join: no copy per item."""
        parts = list(itertools.chain.from_iterable(
            zip(self.heads[start:end], self.tails[start:end], strict=True)))
        parts[-1] = parts[-1][:-1]  # no comma after the last item
        return parts


class History:
    """One user's scrobbles, newest first, with a negated-uts index for window bisects.

    Items with the same uts keep their relative order forever (inserts go after the items
    already at that second), so identical same-second plays are served consistently.
    """

    def __init__(
        self,
        name: str,
        items: Iterable[Scrobble],
        *,
        private: bool = False,
        now_playing: Scrobble | None = None,
        registered: int | None = None,
        extra_playcount: int = 0,
    ) -> None:
        self.name = name
        self.items: list[Scrobble] = sorted(items, key=_neg_uts)
        self.keys = array("q", [-s.uts for s in self.items])
        self.private = private
        self.now_playing = now_playing
        self.registered = registered
        self.extra_playcount = extra_playcount
        self._stats: tuple[int, int, int, int] | None = None
        self.prerendered: Prerendered | None = None  # dropped by any change of the items

    def stats(self) -> tuple[int, int, int, int]:
        """(distinct artists, albums, tracks, first positive uts), cached until a change."""
        if self._stats is None:
            items = self.items
            first = min((s.uts for s in items if s.uts > 0), default=1_200_000_000)
            albums = {(s.artist, s.album) for s in items}
            tracks = {(s.artist, s.title) for s in items}
            self._stats = (len({s.artist for s in items}), len(albums), len(tracks), first)
        return self._stats

    def window(self, from_uts: int | None, to_uts: int | None) -> tuple[int, int]:
        """Index range ``[a, b)`` of the items with ``from_uts <= uts < to_uts``."""
        a = 0 if to_uts is None else bisect.bisect_right(self.keys, -to_uts)
        b = len(self.keys) if from_uts is None else bisect.bisect_right(self.keys, -from_uts)
        return a, max(a, b)

    def insert(self, items: Sequence[Scrobble]) -> None:
        if len(items) > 64:
            self.items = sorted([*self.items, *items], key=_neg_uts)
            self.keys = array("q", [-s.uts for s in self.items])
        else:
            for s in items:
                pos = bisect.bisect_right(self.keys, -s.uts)
                self.items.insert(pos, s)
                self.keys.insert(pos, -s.uts)
        self._stats = None
        self.prerendered = None

    def delete(self, item: Scrobble) -> bool:
        a, b = self.window(item.uts, item.uts + 1)
        for i in range(a, b):
            if self.items[i] == item:
                del self.items[i]
                del self.keys[i]
                self._stats = None
                self.prerendered = None
                return True
        return False


def _neg_uts(s: Scrobble) -> int:
    return -s.uts


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer of the fake (before transport-level faults)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    error: int | None = None
    fault: str | None = None
    disconnect: bool = False
    shape: Fault | None = None  # a SHAPE_FAULTS fault: how the answer is sent


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What the fake saw and answered; ``params`` is ``request_view`` (no api_key).

    ``start`` is the monotonic arrival time (what pacing checks want); ``end`` is when the
    answer was ready, just before it was written, so the record exists by the time a client
    has read the response. ``status`` is 0 for a "disconnect" fault.
    """

    method: str
    params: dict[str, str]
    status: int
    error: int | None
    fault: str | None
    start: float
    end: float


def error_reply(status: int, code: int, message: str, *, links: bool = False) -> Reply:
    """``{"message":...,"error":N}`` (plus ``"links":[]`` where last.fm adds it)."""
    extra = ',"links":[]' if links else ""
    body = f'{{"message":{jstr(message)},"error":{code}{extra}}}'
    return Reply(status, body.encode(), error=code)


def html_reply(status: int, reason: str) -> Reply:
    body = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>openresty</center>\r\n"
            "</body>\r\n</html>\r\n")
    return Reply(status, body.encode(), content_type="text/html")


def xml_error_reply(code: int, message: str) -> Reply:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<lfm status="failed">\n'
            f'<error code="{code}">{message}</error>\n</lfm>\n')
    return Reply(400, body.encode(), content_type="text/xml; charset=UTF-8", error=code)


# --------------------------------------------------------------------------------------------
# Fault injection


@dataclass
class Fault:
    """One planned fault. It fires on matching requests until ``count`` firings (None: forever).

    A request matches when its method equals ``method`` (if set), ``when(params)`` is true
    (if set; params as ``request_view`` gives them: no api_key, method lower-cased) and the
    kind applies (e.g. ``empty_page`` only to a recent-tracks page before the last one). Of
    the matching requests it fires on every ``every``-th one (if set), and then with
    ``probability`` (if set, drawn from the plan's seeded RNG). Kind-specific settings:
    ``seconds`` (slow; drip and drip_head: between two bytes), ``drift`` (total_drift),
    ``user`` (wrong_user: whose page to serve), ``status`` (HTTP status of error8/11/16/29),
    ``size`` (huge_body and gzip_bomb: bytes of whitespace before the page, decompressed),
    ``uts`` (bad_uts: the time the page's first scrobble is served with).
    """

    kind: str
    count: int | None = 1
    every: int | None = None
    probability: float | None = None
    when: Callable[[Mapping[str, str]], bool] | None = None
    method: str | None = None
    seconds: float = 5.0
    drift: int = 1
    user: str | None = None
    status: int | None = None
    size: int = 3 << 29  # 1.5 GiB
    uts: int = MS_TIMESTAMP
    seen: int = 0
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def _matches(self, method: str, params: Mapping[str, str]) -> bool:
        if self.exhausted or (self.method is not None and self.method.lower() != method):
            return False
        return self.when is None or bool(self.when(params))


class FaultPlan:
    """The fake's planned faults (``fake.faults``); deterministic for a given seed."""

    def __init__(self, seed: int = 0) -> None:
        self._faults: list[Fault] = []
        self._log: list[tuple[str, dict[str, str]]] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        *,
        count: int | None = 1,
        every: int | None = None,
        probability: float | None = None,
        when: Callable[[Mapping[str, str]], bool] | None = None,
        method: str | None = None,
        seconds: float = 5.0,
        drift: int = 1,
        user: str | None = None,
        status: int | None = None,
        size: int = 3 << 29,
        uts: int = MS_TIMESTAMP,
    ) -> Fault:
        """Plan a fault of ``kind`` (one of ``FAULT_KINDS``); returns it for inspection."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        if every is not None and every < 1:
            raise ValueError("every must be >= 1")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        fault = Fault(kind, count, every, probability, when, method, seconds, drift, user,
                      status, size, uts)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every planned fault and the firing log."""
        with self._lock:
            self._faults.clear()
            self._log.clear()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    @property
    def active(self) -> list[Fault]:
        """Faults that can still fire."""
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    @property
    def fired(self) -> list[tuple[str, dict[str, str]]]:
        """(kind, params without api_key) of every firing, in order."""
        with self._lock:
            return list(self._log)

    def take(self, kinds: Iterable[str], method: str, params: Mapping[str, str]) -> Fault | None:
        """The first planned fault of ``kinds`` that fires on this request, counted as fired."""
        kinds = frozenset(kinds)
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds or not fault._matches(method, params):
                    continue
                fault.seen += 1
                if fault.every is not None and fault.seen % fault.every:
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                self._log.append((fault.kind, dict(params)))
                logger.debug("fault %s fires on %s", fault.kind, method)
                return fault
        return None


def request_view(params: Mapping[str, str]) -> dict[str, str]:
    """Params as hooks, ``when`` callables and the logs see them: no api_key, method lower."""
    view = {k: v for k, v in params.items() if k != "api_key"}
    view["method"] = view.get("method", "").lower()
    return view


class RateLimiter:
    """At most ``rate`` accepted requests in any sliding 1 s window (rejections don't count)."""

    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def admit(self, rate: float | None, now: float) -> bool:
        if not rate:
            return True
        with self._lock:
            while self._times and self._times[0] <= now - 1.0:
                self._times.popleft()
            if len(self._times) >= rate:
                return False
            self._times.append(now)
            return True


# --------------------------------------------------------------------------------------------
# The fake service


class BadParamError(Exception):
    """A request parameter is invalid; carries the reply."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body.decode())
        self.reply = reply


class FakeLastfm:
    """A loopback last.fm ``/2.0/`` endpoint with users, histories, tags and fault injection.

    Knobs (plain attributes, safe to change while running): ``api_keys``, ``suspended_keys``,
    ``max_limit``, ``latency`` (seconds added to every answer), ``rate_limit`` (accepted
    requests per sliding second; excess gets HTTP 429 / error 29), ``single_object`` (a page
    with exactly one item serialises ``track`` as an object), ``auto_tags`` (known artists
    without explicit tags get stable genre tags), ``require_json``.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        extra_api_keys: Iterable[str] = (),
        suspended_keys: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        max_limit: int = 1000,
        latency: float = 0.0,
        rate_limit: float | None = None,
        single_object: bool = False,
        auto_tags: bool = False,
        require_json: bool = True,
        seed: int = 0,
    ) -> None:
        self.api_key = api_key
        self.api_keys: set[str] = {api_key, *extra_api_keys}
        self.suspended_keys: set[str] = set(suspended_keys)
        self.host = host
        self.port = port
        self.max_limit = max_limit
        self.latency = latency
        self.rate_limit = rate_limit
        self.single_object = single_object
        self.auto_tags = auto_tags
        self.require_json = require_json
        self.faults = FaultPlan(seed)
        self.renderer = Renderer()
        self._users: dict[str, History] = {}
        self._artist_tags: dict[str, tuple[str, list[tuple[str, int]]]] = {}
        self._track_tags: dict[tuple[str, str], tuple[str, str, list[tuple[str, int]]]] = {}
        self._catalog: tuple[dict[str, str], set[tuple[str, str]]] | None = None
        self._stranger: History | None = None
        self._lock = threading.RLock()
        self._hooks: list[Callable[[dict[str, str]], None]] = []
        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self._limiter = RateLimiter()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[Params], Reply]] = {
            "user.getrecenttracks": self._recent_tracks,
            "user.getinfo": self._user_info,
            "artist.gettoptags": self._artist_top_tags,
            "track.gettoptags": self._track_top_tags,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL ``http://127.0.0.1:PORT/2.0/`` (valid once started)."""
        if self._server is None:
            raise RuntimeError("fake last.fm is not started")
        return f"http://{self.host}:{self._server.server_address[1]}/2.0/"

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.url
        self._stopping.clear()
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._server = _Server((self.host, self.port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"fake-lastfm-{self._server.server_address[1]}", daemon=True,
        )
        self._thread.start()
        logger.info("fake last.fm listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving; wakes delayed answers and drops open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLastfm:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- users and histories -----------------------------------------------------------------

    def add_user(
        self,
        name: str,
        scrobbles: Iterable[Scrobble] = (),
        *,
        private: bool = False,
        now_playing: Scrobble | None = None,
        registered: int | None = None,
        extra_playcount: int = 0,
    ) -> None:
        """Add (or replace) a user. ``scrobbles`` in any order; ties keep their given order.

        ``extra_playcount`` models "bootstrap" plays counted in user.getInfo's playcount but
        absent from recent tracks.
        """
        history = History(name, scrobbles, private=private, now_playing=now_playing,
                          registered=registered, extra_playcount=extra_playcount)
        with self._lock:
            self._users[name.casefold()] = history
            self._catalog = None

    def add_recorded_user(self, name: str = RECORDED_USER) -> list[Scrobble]:
        """Serve the recorded 2026 captures as user ``name``; see ``load_recorded_user``."""
        return load_recorded_user(self, name)

    def users(self) -> list[str]:
        with self._lock:
            return [h.name for h in self._users.values()]

    def scrobbles(self, name: str) -> list[Scrobble]:
        """Ground truth: the user's scrobbles newest first, exactly as served."""
        with self._lock:
            return list(self._history(name).items)

    def add_scrobbles(self, name: str, items: Iterable[Scrobble]) -> None:
        """Insert scrobbles (new or backdated) by uts; same-second ones go after existing."""
        with self._lock:
            self._history(name).insert(list(items))
            self._catalog = None

    def delete_scrobble(self, name: str, item: Scrobble) -> bool:
        """Remove one copy of ``item``; False when the user has no such scrobble."""
        with self._lock:
            self._catalog = None
            return self._history(name).delete(item)

    def prerender(self, extended: bool = True) -> None:
        """Render every user's history now, in the ``extended`` form (plexfm asks for
        extended=1): pages of it are then served without rendering (see the module doc)."""
        with self._lock:
            renderer = self.renderer
            for history in self._users.values():
                parts = [renderer.parts(s, extended) for s in history.items]
                history.prerendered = Prerendered(extended, renderer.generation,
                                                  [p[0] for p in parts],
                                                  [p[1] + b"," for p in parts])

    def set_now_playing(self, name: str, item: Scrobble | None) -> None:
        with self._lock:
            self._history(name).now_playing = item

    def set_private(self, name: str, private: bool = True) -> None:
        with self._lock:
            self._history(name).private = private

    def set_artist_tags(self, artist: str, tags: Sequence[tuple[str, int]]) -> None:
        """Tags served by artist.getTopTags (in the given order); ``[]`` = known, no tags."""
        with self._lock:
            self._artist_tags[artist.casefold()] = (artist, list(tags))

    def set_track_tags(self, artist: str, track: str, tags: Sequence[tuple[str, int]]) -> None:
        """Tags served by track.getTopTags for (artist, track)."""
        with self._lock:
            key = (artist.casefold(), track.casefold())
            self._track_tags[key] = (artist, track, list(tags))

    def _history(self, name: str) -> History:
        try:
            return self._users[name.casefold()]
        except KeyError:
            raise KeyError(f"no such fake user {name!r}") from None

    # -- hooks and introspection -------------------------------------------------------------

    def on_request(
        self, callback: Callable[[dict[str, str]], None]
    ) -> Callable[[dict[str, str]], None]:
        """Call ``callback(params)`` (api_key removed, method lower-cased) before answering
        each request, e.g. to add scrobbles between page requests. Returns the callback."""
        self._hooks.append(callback)
        return callback

    def remove_hook(self, callback: Callable[[dict[str, str]], None]) -> None:
        self._hooks.remove(callback)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request answered so far (oldest first)."""
        with self._records_lock:
            return list(self._records)

    def reset_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._records_lock:
            self._records.append(record)

    # -- dispatch ----------------------------------------------------------------------------

    def admit(self, now: float) -> bool:
        """Rate-limit decision for a request arriving at ``now`` (monotonic)."""
        return self._limiter.admit(self.rate_limit, now)

    def dispatch(self, params: Mapping[str, str]) -> Reply:
        """Answer one API call (no transport, no delays): auth, faults, then the method."""
        params = dict(params)
        if self.require_json and params.get("format") != "json":
            return xml_error_reply(5, MSG_INVALID_FORMAT)
        key = params.get("api_key", "")
        if not key:
            return error_reply(400, 6, MSG_MISSING_PARAM)
        if key in self.suspended_keys:
            return error_reply(403, 26, MSG_SUSPENDED)
        if key not in self.api_keys:
            return error_reply(403, 10, MSG_BAD_KEY)
        method = params.get("method", "").lower()
        handler = self._methods.get(method)
        if handler is None:
            return error_reply(400, 3, MSG_BAD_METHOD)
        kinds = PRE_FAULTS if method.startswith("user.") else PRE_FAULTS - {"user_not_found"}
        fault = self.faults.take(kinds | SHAPE_FAULTS, method, request_view(params))
        if fault is not None and fault.kind not in ("truncated", "disconnect", *SHAPE_FAULTS):
            return _fault_reply(fault)
        try:
            reply = handler(params)
        except BadParamError as exc:
            reply = exc.reply
        if fault is not None and fault.kind in SHAPE_FAULTS:
            return Reply(reply.status, reply.body, reply.content_type, reply.error, fault.kind,
                         shape=fault)
        if fault is not None and fault.kind == "truncated":
            cut = max(1, len(reply.body) // 2)
            return Reply(reply.status, reply.body[:cut], reply.content_type, None, "truncated")
        if fault is not None:
            return Reply(0, b"", error=None, fault=fault.kind, disconnect=True)
        return reply

    def extra_delay(self, params: Mapping[str, str]) -> tuple[float, str | None]:
        """Seconds to hold this request (latency + a "slow" fault) and the fault's name."""
        view = request_view(params)
        fault = self.faults.take(DELAY_FAULTS, view["method"], view)
        if fault is None:
            return self.latency, None
        return self.latency + fault.seconds, fault.kind

    def wait(self, seconds: float) -> None:
        """Sleep that ends early when the fake stops (so shutdown never hangs)."""
        if seconds > 0:
            self._stopping.wait(seconds)

    # -- methods -----------------------------------------------------------------------------

    def _user_for(self, params: Params) -> History:
        name = params.get("user", "")
        if not name:
            raise BadParamError(error_reply(400, 6, MSG_MISSING_PARAM))
        history = self._users.get(name.casefold())
        if history is None:
            raise BadParamError(error_reply(404, 6, MSG_USER_NOT_FOUND))
        return history

    def _recent_tracks(self, params: Params) -> Reply:
        limit = _int_param(params, "limit", DEFAULT_LIMIT, 1, self.max_limit,
                           f"limit param out of bounds (1-{self.max_limit})")
        page = _int_param(params, "page", 1, 1, MAX_PAGE, MSG_PAGE_BOUNDS)
        from_uts, to_uts = _opt_int(params, "from"), _opt_int(params, "to")
        extended = params.get("extended", "0") in ("1", "true")
        with self._lock:
            history = self._user_for(params)
            if history.private:
                return error_reply(403, 17, MSG_PRIVATE)
            a, b = history.window(from_uts, to_uts)
            last_page = math.ceil((b - a) / limit)
            kinds = PAGE_FAULTS if page < last_page else PAGE_FAULTS - {"empty_page"}
            fault = self.faults.take(kinds, "user.getrecenttracks", request_view(params))
            if fault is not None and fault.kind == "wrong_user":
                history = self._other_user(history, fault.user)
                a, b = history.window(from_uts, to_uts)
            start = a + (page - 1) * limit
            items = history.items[start : min(b, start + limit)]
            now_playing = history.now_playing if page == 1 else None
            ready = history.prerendered
        total = b - a
        if fault is not None and fault.kind == "empty_page":
            items = []
        if fault is not None and fault.kind == "total_drift":
            total += fault.drift
        if fault is not None and fault.kind == "bad_uts" and items:
            items = [items[0]._replace(uts=fault.uts), *items[1:]]
        track = None
        if (ready is not None and ready.extended == extended and items and now_playing is None
                and ready.generation == self.renderer.generation
                and (fault is None or fault.kind == "total_drift")
                and not (self.single_object and len(items) == 1)):
            track = ready.parts(start, start + len(items))
        body = self._render_page(history.name, items, now_playing, extended, page, limit, total,
                                 track)
        return Reply(200, body, fault=fault.kind if fault else None)

    def _render_page(
        self, user: str, items: list[Scrobble], now_playing: Scrobble | None, extended: bool,
        page: int, limit: int, total: int, track: bytes | list[bytes] | None = None,
    ) -> bytes:
        """The recenttracks body; ``track`` is [] when empty, an object when single (toggle);
        given `track` (the pieces of the items' array, pre-rendered), only the rest is
        rendered, and the body is made by one join."""
        attr = (f'{{"user":{jstr(user)},"totalPages":"{math.ceil(total / limit)}",'
                f'"page":"{page}","perPage":"{limit}","total":"{total}"}}').encode()
        if isinstance(track, list):
            return b"".join([b'{"recenttracks":{"track":[', *track, b'],"@attr":', attr, b"}}"])
        if track is None:
            render = self.renderer.item
            frags = [render(s, extended) for s in items]
            if now_playing is not None:
                frags.insert(0, self.renderer.now_playing(now_playing, extended))
            single = len(frags) == 1 and self.single_object
            track = frags[0] if single else b"[" + b",".join(frags) + b"]"
        return b'{"recenttracks":{"track":%s,"@attr":%s}}' % (track, attr)

    def _other_user(self, history: History, wanted: str | None) -> History:
        """Whose page a "wrong_user" fault serves: ``wanted``, another user, or a stranger."""
        if wanted is not None:
            return self._history(wanted)
        for other in self._users.values():
            if other is not history:
                return other
        if self._stranger is None:
            self._stranger = History("someone_else", _stranger_history())
        return self._stranger

    def _user_info(self, params: Params) -> Reply:
        with self._lock:
            history = self._user_for(params)
            artists, albums, tracks, first = history.stats()
            playcount = len(history.items) + history.extra_playcount
            registered = first if history.registered is None else history.registered
        name = history.name
        user = {
            "name": name, "age": "0", "subscriber": "0", "realname": "", "bootstrap": "0",
            "playcount": str(playcount), "artist_count": str(artists), "playlists": "0",
            "track_count": str(tracks), "album_count": str(albums),
            "image": [{"size": size, "#text": ""} for size, _ in IMAGE_SIZES],
            "registered": {"unixtime": str(registered), "#text": registered},
            "country": "None", "gender": "n", "url": f"https://www.last.fm/user/{name}",
            "type": "user",
        }
        return Reply(200, dumps({"user": user}).encode())

    def _known(self) -> tuple[dict[str, str], set[tuple[str, str]]]:
        """Artists (casefold -> name) and (artist, track) casefolded pairs in any history."""
        if self._catalog is not None:
            return self._catalog
        pairs: set[tuple[str, str]] = set()
        for history in self._users.values():
            pairs.update((s.artist, s.title) for s in history.items)
        artists = {a.casefold(): a for a, _ in sorted(pairs)}
        folded = {(a.casefold(), t.casefold()) for a, t in pairs}
        self._catalog = (artists, folded)
        return self._catalog

    def _artist_top_tags(self, params: Params) -> Reply:
        artist = params.get("artist", "")
        if not artist:
            raise BadParamError(error_reply(400, 6, MSG_MISSING_PARAM))
        with self._lock:
            explicit = self._artist_tags.get(artist.casefold())
            if explicit is not None:
                name, tags = explicit
            else:
                known, _ = self._known()
                if artist.casefold() not in known:
                    return error_reply(200, 6, MSG_ARTIST_NOT_FOUND, links=True)
                name = known[artist.casefold()]
                tags = auto_tags(name) if self.auto_tags else []
        return Reply(200, _toptags(tags, {"artist": name}))

    def _track_top_tags(self, params: Params) -> Reply:
        artist, track = params.get("artist", ""), params.get("track", "")
        if not artist or not track:
            raise BadParamError(error_reply(400, 6, MSG_MISSING_PARAM))
        key = (artist.casefold(), track.casefold())
        with self._lock:
            explicit = self._track_tags.get(key)
            if explicit is not None:
                attr = {"artist": explicit[0], "track": explicit[1]}
                tags = explicit[2]
            else:
                known, pairs = self._known()
                if key not in pairs:
                    return error_reply(200, 6, MSG_TRACK_NOT_FOUND, links=True)
                attr = {"artist": known[key[0]], "track": track}
                tags = auto_tags(attr["artist"]) if self.auto_tags else []
        return Reply(200, _toptags(tags, attr))


def _toptags(tags: Sequence[tuple[str, int]], attr: dict[str, str]) -> bytes:
    """``toptags`` body: ``count`` is a JSON number; a single tag is an object, none is []."""
    entries = [{"count": count, "name": name,
                "url": f"https://www.last.fm/tag/{quote_plus(name, errors=JSON_UTF8[1])}"}
               for name, count in tags]
    tag: Any = entries[0] if len(entries) == 1 else entries
    return dumps({"toptags": {"tag": tag, "@attr": attr}}).encode(*JSON_UTF8)


def auto_tags(artist: str) -> list[tuple[str, int]]:
    """Stable pseudo-genre tags for an artist (1-5 tags, counts 100 downward)."""
    seed = zlib.crc32(artist.casefold().encode())
    rng = random.Random(seed)
    names = rng.sample(GENRES, 1 + seed % 5)
    counts = sorted((rng.randint(5, 99) for _ in names[1:]), reverse=True)
    return list(zip(names, [100, *counts], strict=True))


def _fault_reply(fault: Fault) -> Reply:
    if fault.kind in ERROR_FAULTS:
        status, code, message = ERROR_FAULTS[fault.kind]
        reply = error_reply(fault.status or status, code, message)
    elif fault.kind in HTTP_FAULTS:
        status = int(fault.kind[4:])
        reply = html_reply(status, HTTP_FAULTS[fault.kind])
    else:  # user_not_found
        reply = error_reply(404, 6, MSG_USER_NOT_FOUND)
    return Reply(reply.status, reply.body, reply.content_type, reply.error, fault.kind)


def _int_param(params: Params, name: str, default: int, lo: int, hi: int, message: str) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParamError(error_reply(400, 6, message, links=True)) from None
    if not lo <= value <= hi:
        raise BadParamError(error_reply(400, 6, message, links=True))
    return value


def _opt_int(params: Params, name: str) -> int | None:
    raw = params.get(name, "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadParamError(error_reply(400, 6, MSG_MISSING_PARAM)) from None


@functools.cache
def _stranger_history() -> tuple[Scrobble, ...]:
    """A small fixed history for "wrong_user" faults when no other user exists."""
    from tests.fakes.history_gen import generate_history

    return tuple(generate_history(500, seed=4242))


# --------------------------------------------------------------------------------------------
# HTTP transport


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeLastfm
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without NODELAY, Nagle + delayed ACK can add ~40 ms to small answers.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def version_string(self) -> str:
        return "openresty"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake last.fm: %s", format % args)

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length) if length else b"")

    def _serve(self, body: bytes) -> None:
        start = time.monotonic()
        fake = self.fake
        parts = urlsplit(self.path)
        if parts.path not in ("/2.0/", "/2.0"):
            reply = html_reply(404, "Not Found")
            self._send(reply)
            fake._record(RequestRecord("", {}, 404, None, None, start, time.monotonic()))
            return
        params = _parse_params(parts.query, body)
        public = request_view(params)
        try:
            reply = self._answer(params, public, start)
        except Exception:
            logger.exception("fake last.fm failed on %s", public)
            reply = html_reply(500, "Internal Server Error")
        record = RequestRecord(public["method"], public, reply.status, reply.error, reply.fault,
                               start, time.monotonic())
        fake._record(record)
        self._send(reply)

    def _answer(self, params: Params, public: Params, start: float) -> Reply:
        fake = self.fake
        for hook in list(fake._hooks):
            hook(dict(public))
        if not fake.admit(start):
            fake.wait(fake.latency)
            return error_reply(429, 29, MSG_RATE_LIMIT)
        delay, slow = fake.extra_delay(params)
        fake.wait(delay)
        reply = fake.dispatch(params)
        if slow is not None and reply.fault is None:
            reply = Reply(reply.status, reply.body, reply.content_type, reply.error, slow)
        return reply

    def _send(self, reply: Reply) -> None:
        if reply.disconnect:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        length, parts, extra = _shaped_body(reply)
        reason = HTTPStatus(reply.status).phrase
        head = (
            f"HTTP/1.1 {reply.status} {reason}\r\nServer: openresty\r\n"
            f"Date: {self.date_time_string()}\r\nContent-Type: {reply.content_type}\r\n"
            f"Content-Length: {length}\r\n{extra}{STATIC_HEADERS}\r\n"
        ).encode("latin-1")
        try:
            if reply.shape is None:
                self.wfile.write(head + reply.body)
            elif reply.shape.kind in ("drip", "drip_head"):
                self._drip(head, reply.body, reply.shape)
            else:
                self.wfile.write(head)
                for part in parts:
                    if self.fake._stopping.is_set():
                        break
                    self.wfile.write(part)
        except OSError:
            self.close_connection = True

    def _drip(self, head: bytes, body: bytes, fault: Fault) -> None:
        """Send one byte every ``fault.seconds`` (from the status line on for drip_head)."""
        self.close_connection = True
        if fault.kind == "drip":
            self.wfile.write(head)
            head = b""
        for byte in head + body:
            if self.fake._stopping.is_set():
                return
            self.wfile.write(bytes((byte,)))
            self.fake.wait(fault.seconds)


def _shaped_body(reply: Reply) -> tuple[int, Iterable[bytes], str]:
    """(Content-Length, body parts, extra header lines) of an answer as its shape sends it."""
    fault = reply.shape
    if fault is None or fault.kind in ("drip", "drip_head"):
        return len(reply.body), (reply.body,), ""
    if fault.kind == "gzip_bomb":
        parts = (_gzipped_whitespace(fault.size), gzip.compress(reply.body))
        return sum(map(len, parts)), parts, "Content-Encoding: gzip\r\n"

    def padded() -> Iterator[bytes]:
        full, rest = divmod(fault.size, len(PAD_CHUNK))
        for _ in range(full):
            yield PAD_CHUNK
        yield PAD_CHUNK[:rest] + reply.body

    return fault.size + len(reply.body), padded(), ""


@functools.lru_cache(maxsize=4)
def _gzipped_whitespace(size: int) -> bytes:
    """A gzip member holding ``size`` spaces, about a thousandth of that: each MiB of spaces
    deflated after a full flush is the same ~1 KB block, so the block is repeated."""
    def deflated(data: bytes, mode: int) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush(mode)

    full, rest = divmod(size, len(PAD_CHUNK))
    crc = 0
    for _ in range(full):
        crc = zlib.crc32(PAD_CHUNK, crc)
    crc = zlib.crc32(PAD_CHUNK[:rest], crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return b"".join((header, deflated(PAD_CHUNK, zlib.Z_FULL_FLUSH) * full,
                     deflated(PAD_CHUNK[:rest], zlib.Z_FINISH),
                     struct.pack("<II", crc, size & 0xFFFFFFFF)))


def _parse_params(query: str, body: bytes) -> Params:
    params: Params = {}
    for source in (query, body.decode("utf-8", "replace")):
        for key, values in parse_qs(source, keep_blank_values=True).items():
            params[key] = values[0]
    return params


# --------------------------------------------------------------------------------------------
# Recorded fixtures (replay of real captured responses)


def fixture_path(name: str) -> Path:
    return FIXTURE_DIR / name


def fixture_tracks(name: str) -> list[dict[str, Any]]:
    """The raw ``recenttracks.track`` items of a fixture file (always a list)."""
    data = json.loads(fixture_path(name).read_text(encoding="utf-8"))
    tracks = data["recenttracks"].get("track", [])
    return [tracks] if isinstance(tracks, dict) else list(tracks)


def parse_track(item: Mapping[str, Any]) -> Scrobble:
    """One raw recent-tracks item (plain or extended) as a Scrobble (uts 0 if now playing)."""
    artist = item["artist"]
    loved = item.get("loved")
    return Scrobble(
        uts=int(item["date"]["uts"]) if "date" in item else 0,
        artist=artist.get("#text", artist.get("name", "")),
        title=item["name"],
        album=item["album"]["#text"],
        artist_mbid=artist.get("mbid", ""),
        track_mbid=item.get("mbid", ""),
        album_mbid=item["album"].get("mbid", ""),
        loved=None if loved is None else int(loved),
    )


def fixture_scrobbles(name: str) -> tuple[list[Scrobble], Scrobble | None]:
    """Parsed items of a fixture file: (scrobbles newest first, now-playing item or None)."""
    scrobbles: list[Scrobble] = []
    now_playing = None
    for item in fixture_tracks(name):
        if item.get("@attr", {}).get("nowplaying") == "true":
            now_playing = parse_track(item)
        else:
            scrobbles.append(parse_track(item))
    return scrobbles, now_playing


def load_recorded_user(
    fake: FakeLastfm, name: str = RECORDED_USER, files: Sequence[str] = FIXTURE_FILES
) -> list[Scrobble]:
    """Add a user built from the recorded captures and return its history (newest first).

    Files overlap (the window lies inside a page); a scrobble present in several files is
    kept as many times as the file holding it most often. Image names and ``+noredirect``
    URLs are registered with the renderer so served items equal the recorded ones.
    """
    counts: dict[Scrobble, int] = {}
    now_playing = None
    for file in files:
        per_file = collections.Counter[Scrobble]()
        scrobbles, playing = fixture_scrobbles(file)
        now_playing = now_playing or playing
        per_file.update(scrobbles)
        for item, n in per_file.items():
            counts[item] = max(counts.get(item, 0), n)
        _register_looks(fake.renderer, fixture_tracks(file))
    history = [item for item, n in counts.items() for _ in range(n)]
    fake.add_user(name, history, now_playing=now_playing)
    return fake.scrobbles(name)


def _register_looks(renderer: Renderer, items: Iterable[Mapping[str, Any]]) -> None:
    for item in items:
        artist = item["artist"].get("#text", item["artist"].get("name", ""))
        small = item["image"][0]["#text"] if item.get("image") else ""
        renderer.images[(artist, item["album"]["#text"])] = small.rsplit("/", 1)[-1]
        if "/+noredirect/" in item.get("url", ""):
            renderer.noredirect.add((artist, item["name"]))
    renderer.clear()


# --------------------------------------------------------------------------------------------
# Command line


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.lastfm_server",
                                     description="Serve a fake last.fm API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--user", action="append", help="user(s) to create (default alice)")
    parser.add_argument("--scrobbles", type=int, default=10_000, help="scrobbles per user")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--max-limit", type=int, default=1000)
    parser.add_argument("--now-playing", action="store_true", help="users are listening now")
    parser.add_argument("--single-object", action="store_true")
    parser.add_argument("--auto-tags", action="store_true")
    parser.add_argument("--recorded", action="store_true", help=f"also serve {RECORDED_USER}")
    parser.add_argument("--prerender", action="store_true",
                        help="render every history up front (benchmarks: less CPU per page)")
    parser.add_argument("--ready-file", type=Path, help="write the URL here once listening")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def build_from_args(args: argparse.Namespace) -> FakeLastfm:
    from tests.fakes.history_gen import generate_history

    fake = FakeLastfm(api_key=args.api_key, host=args.host, port=args.port,
                      max_limit=args.max_limit, latency=args.latency, rate_limit=args.rate_limit,
                      single_object=args.single_object, auto_tags=args.auto_tags)
    for i, user in enumerate(args.user or ["alice"]):
        history = generate_history(args.scrobbles, seed=args.seed + i)
        playing = history[0]._replace(uts=0) if args.now_playing and history else None
        fake.add_user(user, history, now_playing=playing)
    if args.recorded:
        load_recorded_user(fake)
    if args.prerender:
        fake.prerender()
    return fake


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    fake = build_from_args(args)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    url = fake.start()
    print(f"listening on {url}", flush=True)
    if args.ready_file is not None:
        tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
        tmp.write_text(url + "\n", encoding="utf-8")
        tmp.replace(args.ready_file)
    while not stop.wait(0.5):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
