"""last.fm API client: paced, retried calls and the mapping of last.fm's errors.

It knows nothing about plexfm: it takes plain values (endpoint, key, limits, a pacer, clocks)
and returns records (`pages` parses them). Requests are POSTed as form bodies (the API accepts
both, as pylast relies on), so the API key never appears in a URL, and therefore never in an
exception message or a proxy log; `transport` bounds each one in time and size.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import requests

from daemon import __version__
from daemon.errors import LastfmError, LastfmFatalError, LastfmTransientError
from daemon.lastfm.pacing import Clock, Pacer, Sleep
from daemon.lastfm.pages import RecentTracksPage, fast_recent_tracks, parse_recent_tracks
from daemon.lastfm.transport import MAX_BODY_BYTES, guarded_session, pin_environment, post_form

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


class LastfmClient:
    """A last.fm API client for one API key; safe to call from several threads at once."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        pacer: Pacer,
        timeout: float = 30.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        session_factory: Callable[[], requests.Session] = guarded_session,
    ) -> None:
        """`timeout`: seconds for a whole request (connect, headers, body); `max_body_bytes`:
        largest body accepted once decompressed; `clock`: the wall clock that dates "now"
        for the range check of scrobble times."""
        self.api_url = api_url
        self._api_key = api_key
        self._pacer = pacer
        self._timeout = timeout
        self._max_body_bytes = max_body_bytes
        self._clock = clock
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

        def decode(content: bytes, status: int) -> RecentTracksPage:
            now = self._clock()
            return fast_recent_tracks(content, status, user, what, now) or parse_recent_tracks(
                self._decode(content, status, what, user), user, what, now=now)

        result = self._with_retries("user.getRecentTracks", params, what, user, decode)
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
            pin_environment(session, self.api_url)  # requests are only ever sent there
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _call_once(self, method: str, params: dict[str, str], what: str) -> tuple[bytes, int]:
        form = {**params, "method": method, "api_key": self._api_key, "format": "json"}
        with self._lock:
            self.requests_sent += 1
        return post_form(self._session(), self.api_url, form, timeout=self._timeout,
                         max_bytes=self._max_body_bytes, what=what)

    def _decode(self, content: bytes, status: int, what: str, user: str | None) -> dict[str, Any]:
        try:
            data = msgspec.json.decode(content)
        except msgspec.DecodeError:
            data = _lenient_json(content)
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


def _lenient_json(content: bytes) -> Any:
    """The body as Python's json reads it (it accepts what msgspec refuses, such as an escaped
    lone surrogate in one item, which the parser then skips); None when it is not JSON."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None
