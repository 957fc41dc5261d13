"""ListenBrainz API client: GET /1/user/<name>/listens, paced by the server's own rate-limit
headers, retried, listens parsed into scrobbles.

It knows nothing about plexfm: plain values in (the API root, an optional user token, a
timeout, a sleep and a clock), records out. The token travels in the Authorization header
only, never in a URL or a message.

Pacing follows ListenBrainz's documentation: every answer carries X-RateLimit-Limit,
X-RateLimit-Remaining and X-RateLimit-Reset-In (seconds until the window resets); when none
remain, the next request waits that long, and a 429 is retried after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from daemon import __version__
from daemon.errors import (
    ListenbrainzError,
    ListenbrainzFatalError,
    ListenbrainzTransientError,
)
from daemon.importers.listens import listen
from daemon.importers.report import RowError
from daemon.scrobble import Scrobble

log = logging.getLogger(__name__)

USER_AGENT = f"plexfm/{__version__} (ListenBrainz to Plex play history sync)"
MAX_COUNT = 1000
"""The most listens ListenBrainz serves per request (MAX_ITEMS_PER_GET)."""
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})
DEFAULT_RESET_IN = 10.0  # a 429 without X-RateLimit-Reset-In waits one default window

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class ListensPage:
    """One answer of /listens: the plays, and what paging needs."""

    scrobbles: list[Scrobble]
    count: int
    """Listens the server returned (good or not)."""
    oldest: int | None
    """The oldest listened_at among them (None for an empty page)."""
    skipped: list[str] = field(default_factory=list)
    """Why each listen that is not a play was left out."""


def _reset_in(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["X-RateLimit-Reset-In"]))
    except (KeyError, ValueError):
        return None


def _remaining(response: requests.Response) -> int | None:
    try:
        return int(response.headers["X-RateLimit-Remaining"])
    except (KeyError, ValueError):
        return None


class ListenbrainzClient:
    """A ListenBrainz API client (one thread; the pull makes one request at a time)."""

    def __init__(
        self,
        *,
        api_url: str,
        token: str = "",
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        session: requests.Session | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._clock = clock
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        if token:
            self._session.headers["Authorization"] = f"Token {token}"
        self._hold_until = 0.0
        self.requests_sent = 0
        self.retries = 0
        self.waited = 0.0

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ListenbrainzClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def listens(self, user: str, *, max_ts: int, count: int, now: float) -> ListensPage:
        """Up to `count` of `user`'s listens with listened_at < max_ts, newest first."""
        url = f"{self.api_url}1/user/{quote(user, safe='')}/listens"
        params = {"max_ts": str(max_ts), "count": str(min(count, MAX_COUNT))}
        body = self._get(url, params, f"listens of {user} before {max_ts}", user)
        return _page(body, user, now)

    def _get(self, url: str, params: dict[str, str], what: str, user: str) -> Any:
        attempt = 0
        while True:
            self._wait_for_window()
            self.requests_sent += 1
            try:
                response = self._session.get(url, params=params, timeout=self._timeout)
            except requests.RequestException as exc:
                error: ListenbrainzError = ListenbrainzTransientError(
                    f"cannot reach ListenBrainz for {what}: {exc.__class__.__name__}")
                wait = None
            else:
                self._note_window(response)
                judged, wait = self._judge(response, what, user)
                if judged is not None:
                    error = judged
                else:
                    try:
                        return response.json()
                    except ValueError:
                        error = ListenbrainzTransientError(
                            f"ListenBrainz sent a body that is not JSON for {what}")
            if isinstance(error, ListenbrainzFatalError) or attempt >= self._max_retries:
                raise error
            attempt += 1
            self.retries += 1
            if wait is None:
                wait = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
            log.info("ListenBrainz: %s; retry %s of %s in %.1f s", error, attempt,
                     self._max_retries, wait)
            self._pause(wait)

    def _judge(
        self, response: requests.Response, what: str, user: str
    ) -> tuple[ListenbrainzError | None, float | None]:
        """(the error of a response or None, how long to wait before retrying it)."""
        status = response.status_code
        if status == 200:
            return None, None
        message = _error_text(response)
        if status == 429:
            return (ListenbrainzTransientError(f"ListenBrainz rate limit for {what}"),
                    _reset_in(response) or DEFAULT_RESET_IN)
        if status in RETRYABLE_HTTP:
            return ListenbrainzTransientError(f"ListenBrainz answered {status} for {what}"), None
        if status == 404:
            return ListenbrainzFatalError(f"ListenBrainz has no user {user!r}"
                                          " (listenbrainz.user)"), None
        if status == 401:
            return ListenbrainzFatalError("ListenBrainz rejected the token"
                                          " (listenbrainz.token)"), None
        return ListenbrainzFatalError(f"ListenBrainz refused {what}: {status} {message}"), None

    def _note_window(self, response: requests.Response) -> None:
        if _remaining(response) == 0 and (reset := _reset_in(response)) is not None:
            self._hold_until = max(self._hold_until, self._clock() + reset)

    def _wait_for_window(self) -> None:
        delay = self._hold_until - self._clock()
        if delay > 0:
            log.debug("ListenBrainz rate limit window spent: waiting %.1f s", delay)
            self._pause(delay)

    def _pause(self, seconds: float) -> None:
        self.waited += seconds
        self._sleep(seconds)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error)[:200] if error else response.reason or ""


def _page(body: Any, user: str, now: float) -> ListensPage:
    payload = body.get("payload") if isinstance(body, dict) else None
    listens = payload.get("listens") if isinstance(payload, dict) else None
    if not isinstance(listens, list):
        raise ListenbrainzTransientError(f"ListenBrainz sent no listens list for {user}")
    scrobbles: list[Scrobble] = []
    skipped: list[str] = []
    oldest: int | None = None
    for item in listens:
        stamp = item.get("listened_at") if isinstance(item, dict) else None
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            oldest = int(stamp) if oldest is None else min(oldest, int(stamp))
        try:
            scrobbles.append(listen(item, now))
        except RowError as exc:
            skipped.append(str(exc))
    return ListensPage(scrobbles, len(listens), oldest, skipped)
