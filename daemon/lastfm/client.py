"""last.fm API client: paced, retried calls and user.getRecentTracks parsing.

It knows nothing about plexfm: it takes plain values (endpoint, key, timeout, a pacer, a sleep
function) and returns records. Requests are POSTed as form bodies (the API accepts both, as
pylast relies on), so the API key never appears in a URL, and therefore never in an exception
message or a proxy log.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import requests
import urllib3

from daemon import __version__
from daemon.errors import LastfmError, LastfmFatalError, LastfmTransientError
from daemon.lastfm.pacing import Pacer, Sleep
from daemon.scrobble import Scrobble

log = logging.getLogger(__name__)
_T = TypeVar("_T")

USER_AGENT = f"plexfm/{__version__} (last.fm to Plex play history sync)"
LARGEST_PAGE = 1000
FALLBACK_PAGE = 200

RETRYABLE_CODES = frozenset({8, 11, 16, 29})
RATE_LIMITED = 29
FATAL_MEANINGS = {
    4: "authentication failed",
    9: "the session key is invalid",
    10: "last.fm rejected the API key (lastfm.api_key)",
    13: "the method signature is invalid",
    17: "the profile is private (last.fm: 'Hide recent listening information')",
    26: "the API key is suspended by last.fm (lastfm.api_key)",
}
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})


class LimitRefusedError(LastfmError):
    """last.fm refused the page size asked for; ask again with a smaller one."""


# Typed shapes of a getRecentTracks body: decoding straight into these skips the images and
# URLs we never use (4x faster than building dicts). Anything unexpected falls back to the
# generic path, which skips malformed items one by one.
class _Named(msgspec.Struct):
    text: str = msgspec.field(name="#text", default="")
    name: str = ""
    mbid: str = ""


class _Date(msgspec.Struct):
    uts: str


class _ItemAttr(msgspec.Struct):
    nowplaying: str = ""


class _Item(msgspec.Struct):
    name: str = ""
    artist: _Named | None = None
    album: _Named | None = None
    mbid: str = ""
    date: _Date | None = None
    loved: str | None = None
    attr: _ItemAttr | None = msgspec.field(name="@attr", default=None)


class _PageAttr(msgspec.Struct):
    user: str = ""
    page: str = "1"
    perPage: str = "0"  # noqa: N815 - last.fm's own key
    total: str = "0"
    totalPages: str = "0"  # noqa: N815 - last.fm's own key


class _RecentTracks(msgspec.Struct):
    track: list[_Item] | _Item = msgspec.field(default_factory=list)
    attr: _PageAttr = msgspec.field(name="@attr", default_factory=_PageAttr)


class _RecentTracksBody(msgspec.Struct):
    recenttracks: _RecentTracks | None = None


_RECENT_TRACKS_DECODER = msgspec.json.Decoder(_RecentTracksBody)


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


class LastfmClient:
    """A last.fm API client for one API key; safe to call from several threads at once."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        pacer: Pacer,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        sleep: Sleep = time.sleep,
        session_factory: Callable[[], requests.Session] = requests.Session,
    ) -> None:
        self.api_url = api_url
        self._api_key = api_key
        self._pacer = pacer
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._session_factory = session_factory
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._users_seen: set[str] = set()
        self.requests_sent = 0
        self.retries = 0

    def close(self) -> None:
        """Close every HTTP session this client opened."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def __enter__(self) -> LastfmClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def recent_tracks(
        self,
        user: str,
        *,
        page: int = 1,
        limit: int = FALLBACK_PAGE,
        from_uts: int | None = None,
        to_uts: int | None = None,
    ) -> RecentTracksPage:
        """One page of the user's scrobbles with from_uts <= uts < to_uts, newest first."""
        params: dict[str, str] = {"user": user, "page": str(page), "limit": str(limit),
                                  "extended": "1"}
        if from_uts is not None:
            params["from"] = str(from_uts)
        if to_uts is not None:
            params["to"] = str(to_uts)
        what = f"recent tracks of {user} page {page}"
        result = self._with_retries(
            "user.getRecentTracks", params, what, user,
            lambda content, status: _fast_recent_tracks(content, status, user, what)
            or parse_recent_tracks(self._decode(content, status, what, user), user, what),
        )
        with self._lock:
            self._users_seen.add(user.casefold())
        return result

    def call(
        self, method: str, params: dict[str, str], *, what: str = "", user: str | None = None
    ) -> dict[str, Any]:
        """Call `method` with pacing and retries; return the decoded JSON body."""
        what = what or method
        return self._with_retries(
            method, params, what, user,
            lambda content, status: self._decode(content, status, what, user),
        )

    def _with_retries(
        self,
        method: str,
        params: dict[str, str],
        what: str,
        user: str | None,
        decode: Callable[[bytes, int], _T],
    ) -> _T:
        attempt = 0
        while True:
            self._pacer.wait()
            try:
                content, status = self._call_once(method, params, what)
                return decode(content, status)
            except LastfmTransientError as exc:
                if attempt >= self._max_retries:
                    raise LastfmTransientError(
                        f"{exc} (gave up after {attempt + 1} attempts)",
                        code=exc.code, status=exc.status,
                    ) from exc
                delay = self._backoff(attempt)
                if exc.code == RATE_LIMITED or exc.status == 429:
                    self._pacer.hold_off(delay)
                log.debug("retrying %s in %.1f s: %s", what, delay, exc)
                with self._lock:
                    self.retries += 1
                attempt += 1
                self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        base = min(self._backoff_cap, self._backoff_base * (2**attempt))
        return float(base * random.uniform(0.8, 1.2))

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _call_once(self, method: str, params: dict[str, str], what: str) -> tuple[bytes, int]:
        form = {**params, "method": method, "api_key": self._api_key, "format": "json"}
        with self._lock:
            self.requests_sent += 1
        try:
            # one read of the whole body: requests' default 10 KiB chunking costs twice the CPU
            response = self._session().post(
                self.api_url, data=form, timeout=(min(10.0, self._timeout), self._timeout),
                stream=True,
            )
            try:
                content = response.raw.read(decode_content=True)
            finally:
                response.raw.release_conn()
        except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise LastfmTransientError(
                f"last.fm did not answer within {self._timeout:g} s ({what})"
            ) from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise LastfmTransientError(
                f"cannot reach last.fm ({what}): {exc.__class__.__name__}"
            ) from exc
        return content, response.status_code

    def _decode(self, content: bytes, status: int, what: str, user: str | None) -> dict[str, Any]:
        try:
            data = msgspec.json.decode(content)
        except msgspec.DecodeError:
            data = None
        if not isinstance(data, dict):
            if status in RETRYABLE_HTTP or status == 200:
                kind = "malformed response" if status == 200 else f"HTTP {status}"
                raise LastfmTransientError(f"last.fm sent a {kind} ({what})", status=status)
            raise LastfmError(f"last.fm answered HTTP {status} ({what})", status=status)
        if "error" in data:
            raise self._error(data, status, what, user)
        if status != 200:
            raise LastfmTransientError(f"last.fm answered HTTP {status} ({what})", status=status)
        return data

    def _error(self, data: dict[str, Any], status: int, what: str, user: str | None) -> LastfmError:
        try:
            code = int(data.get("error", 0))
        except (TypeError, ValueError):
            code = 0
        message = str(data.get("message", "")).splitlines()[0][:200] if data.get("message") else ""
        text = f"last.fm error {code}: {message} ({what})" if message else \
            f"last.fm error {code} ({what})"
        if code in RETRYABLE_CODES:
            return LastfmTransientError(text, code=code, status=status)
        if code in FATAL_MEANINGS:
            return LastfmFatalError(f"{FATAL_MEANINGS[code]}: {text}", code=code, status=status)
        if code == 6:
            lowered = message.lower()
            if "limit" in lowered and "out of bounds" in lowered:
                return LimitRefusedError(text, code=code, status=status)
            if "user not found" in lowered:
                with self._lock:
                    seen = user is not None and user.casefold() in self._users_seen
                if seen:  # last.fm sometimes says this mid-run about a user it just served
                    return LastfmTransientError(text, code=code, status=status)
                return LastfmFatalError(
                    f"last.fm has no user {user!r} (lastfm.user): {text}", code=code,
                    status=status,
                )
        return LastfmError(text, code=code, status=status)


def _fast_recent_tracks(
    content: bytes, status: int, user: str, what: str
) -> RecentTracksPage | None:
    """Decode a well-formed page straight into records; None sends it down the generic path."""
    if status != 200:
        return None
    try:
        body = _RECENT_TRACKS_DECODER.decode(content).recenttracks
        if body is None:
            return None
        attr = body.attr
        if attr.user.casefold() != user.casefold():
            return None
        items = [body.track] if isinstance(body.track, _Item) else body.track
        scrobbles: list[Scrobble] = []
        append = scrobbles.append
        skipped = now_playing = 0
        for item in items:
            if item.attr is not None and item.attr.nowplaying == "true":
                now_playing += 1
                continue
            artist, album, date = item.artist, item.album, item.date
            if artist is None or date is None or not item.name:
                skipped += 1
                continue
            uts = int(date.uts)
            artist_name = artist.text or artist.name
            if not artist_name or uts < 0:
                skipped += 1
                continue
            append(Scrobble(
                uts, artist_name, item.name, album.text if album else "", artist.mbid,
                item.mbid, album.mbid if album else "",
                int(item.loved) if item.loved is not None else None,
            ))
        return RecentTracksPage(attr.user, int(attr.page), int(attr.perPage), int(attr.total),
                                int(attr.totalPages), scrobbles, skipped, now_playing)
    except (msgspec.DecodeError, ValueError):
        return None


def _text(value: Any, key: str = "#text") -> str:
    if isinstance(value, dict):
        inner = value.get(key, value.get("name", ""))
        return inner if isinstance(inner, str) else str(inner)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def parse_recent_tracks(data: dict[str, Any], user: str, what: str = "") -> RecentTracksPage:
    """Parse a user.getRecentTracks body; malformed items are skipped and counted."""
    body = data.get("recenttracks")
    if not isinstance(body, dict):
        raise LastfmTransientError(f"last.fm response has no recenttracks ({what})")
    attr = body.get("@attr") or {}
    try:
        page = int(attr.get("page", 1))
        per_page = int(attr.get("perPage", 0))
        total = int(attr.get("total", 0))
        total_pages = int(attr.get("totalPages", 0))
    except (TypeError, ValueError) as exc:
        raise LastfmTransientError(f"last.fm response has bad page numbers ({what})") from exc
    served_user = str(attr.get("user", user))
    if served_user.casefold() != user.casefold():
        raise LastfmTransientError(f"last.fm answered for another user ({what})")
    items = body.get("track", [])
    if isinstance(items, dict):
        items = [items]
    elif not isinstance(items, list):
        items = []
    scrobbles: list[Scrobble] = []
    append = scrobbles.append
    skipped = now_playing = 0
    for item in items:
        try:
            item_attr = item.get("@attr")
            if item_attr and item_attr.get("nowplaying") == "true":
                now_playing += 1
                continue
            uts = int(item["date"]["uts"])
            artist = item["artist"]
            title = _text(item["name"])
            artist_name = _text(artist)
            if not artist_name or not title or uts < 0:
                skipped += 1
                continue
            album = item.get("album")
            loved = item.get("loved")
            append(Scrobble(
                uts, artist_name, title, _text(album),
                _text(artist.get("mbid", "")) if isinstance(artist, dict) else "",
                _text(item.get("mbid", "")),
                _text(album.get("mbid", "")) if isinstance(album, dict) else "",
                int(loved) if loved is not None else None,
            ))
        except (KeyError, TypeError, ValueError, AttributeError):
            skipped += 1
    return RecentTracksPage(served_user, page, per_page, total, total_pages, scrobbles,
                            skipped, now_playing)
