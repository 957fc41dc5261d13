"""A faithful fake of the ListenBrainz API (``/1/...``) on loopback, for tests and benchmarks.

It speaks the protocol as ListenBrainz documents and implements it (listenbrainz-server
``webserver/views/api.py``, ``listenstore/timescale_listenstore.py``, brainzutils'
``ratelimit.py``; docs ``users/api/core.html`` and ``users/api/index.html``):

* ``GET /1/user/<name>/listens``: ``max_ts`` and ``min_ts`` are exclusive bounds, at most one
  of them per call (both: 400); ``count`` defaults to 25 and is capped at 1000; listens are
  always returned newest first; with ``min_ts`` they are the oldest ``count`` after it. The
  payload is ``{"count", "listens", "latest_listen_ts", "oldest_listen_ts", "user_id"}``; a
  listen is ``{"inserted_at", "listened_at", "recording_msid", "track_metadata", "user_name"}``.
  Unknown user: 404 ``{"code": 404, "error": "Cannot find user: <name>"}``.
* Listens are unique per (listened_at, lower(track_name)): a second one is dropped, as
  ListenBrainz's unique index drops it.
* ``GET /1/validate-token`` with ``Authorization: Token <t>`` (or ``?token=``).
* Rate limits in fixed windows of ``window`` seconds per key (the token when it is valid,
  else the client's address; valid tokens get ``per_token`` requests, others ``per_ip``).
  Every answer carries X-RateLimit-Limit, -Remaining, -Reset (epoch) and -Reset-In (seconds);
  the request over the limit gets 429 ``{"code": 429, "error": "You have exceeded your rate
  limit. ..."}``.
* Faults: ``fake.fail(status, count, after=n)`` answers requests with that status (an HTML
  body, as a proxy would) after n good ones; ``fake.fail_truncated(count)`` cuts bodies short.

The clock is injectable (``clock``): tests share one fake clock with the client's sleep, so
waiting for a rate-limit window takes no real time.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from daemon.scrobble import Scrobble

DEFAULT_ITEMS_PER_GET = 25
MAX_ITEMS_PER_GET = 1000
OVER_LIMIT = ("You have exceeded your rate limit. See the X-RateLimit-* response headers for "
              "more information on your current rate limit.")


class FakeClock:
    """A clock tests advance by hand (a client's `sleep` can be `advance`)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass(frozen=True)
class Seen:
    """One request as the fake saw and answered it."""

    path: str
    params: dict[str, str]
    status: int
    token: str


class FakeListenbrainz:
    """A loopback ListenBrainz API with users, listens, tokens, rate limits and faults."""

    def __init__(self, *, clock: Callable[[], float] = time.time, per_ip: int = 30,
                 per_token: int = 50, window: int = 10) -> None:
        self.clock = clock
        self.per_ip, self.per_token, self.window = per_ip, per_token, window
        self.tokens: dict[str, str] = {}  # token -> user name
        self.requests: list[Seen] = []
        self._users: dict[str, list[dict[str, Any]]] = {}  # name -> listens, newest first
        self._names: dict[str, str] = {}
        self._windows: dict[tuple[str, int], int] = {}
        self._faults: list[tuple[int, str]] = []
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("fake ListenBrainz is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> FakeListenbrainz:
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- data --------------------------------------------------------------------------------

    def add_user(self, name: str, listens: Iterable[Scrobble] = ()) -> None:
        with self._lock:
            self._users[name.lower()] = []
            self._names[name.lower()] = name
        self.add_listens(name, listens)

    def add_listens(self, name: str, listens: Iterable[Scrobble]) -> int:
        """Insert listens as ListenBrainz would (duplicates dropped); how many were new."""
        with self._lock:
            stored = self._users[name.lower()]
            keys = {(item["listened_at"], item["track_metadata"]["track_name"].lower())
                    for item in stored}
            added = 0
            for play in listens:
                key = (play.uts, play.title.lower())
                if key in keys:
                    continue
                keys.add(key)
                stored.append(self._listen(name, play))
                added += 1
            stored.sort(key=lambda item: -item["listened_at"])
            return added

    def add_raw(self, name: str, listen: dict[str, Any]) -> None:
        """Store a listen as given (one no client would send: a test's bad data)."""
        with self._lock:
            self._users[name.lower()].append(listen)
            self._users[name.lower()].sort(key=lambda item: -item["listened_at"])

    def listens(self, name: str) -> list[Scrobble]:
        """Ground truth: the user's listens as scrobbles, newest first."""
        with self._lock:
            return [_scrobble(item) for item in self._users[name.lower()]]

    def fail(self, status: int, count: int = 1, *, after: int = 0) -> None:
        """Answer `count` requests with `status`, after `after` more good ones."""
        with self._lock:
            self._faults.extend([(0, "pass")] * after + [(status, "status")] * count)

    def fail_truncated(self, count: int = 1) -> None:
        with self._lock:
            self._faults.extend([(200, "truncated")] * count)

    def _listen(self, name: str, play: Scrobble) -> dict[str, Any]:
        meta: dict[str, Any] = {"artist_name": play.artist, "track_name": play.title,
                                "additional_info": {"submission_client": "fake"}}
        if play.album:
            meta["release_name"] = play.album
        if play.track_mbid or play.artist_mbid or play.album_mbid:
            meta["mbid_mapping"] = {"recording_mbid": play.track_mbid or None,
                                    "release_mbid": play.album_mbid or None,
                                    "artist_mbids": [play.artist_mbid] if play.artist_mbid
                                    else []}
        return {"inserted_at": int(self.clock()), "listened_at": play.uts,
                "recording_msid": str(uuid.uuid4()), "track_metadata": meta, "user_name": name}

    # -- answers -----------------------------------------------------------------------------

    def _limit(self, token: str, address: str) -> tuple[bool, dict[str, str]]:
        valid = token in self.tokens
        limit = self.per_token if valid else self.per_ip
        now = self.clock()
        reset = (int(now) // self.window) * self.window + self.window
        key = (f"token:{token}" if valid else f"ip:{address}", reset)
        with self._lock:
            self._windows[key] = current = self._windows.get(key, 0) + 1
        headers = {"X-RateLimit-Remaining": str(max(limit - current, 0)),
                   "X-RateLimit-Limit": str(limit), "X-RateLimit-Reset": str(reset),
                   "X-RateLimit-Reset-In": str(max(0, int(reset - now)))}
        return current <= limit, headers

    def answer(self, path: str, params: dict[str, str], token: str,
               address: str) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) for one GET."""
        allowed, headers = self._limit(token, address)
        with self._lock:
            fault = self._faults.pop(0) if allowed and self._faults else None
        if not allowed:
            status, body = 429, _error(429, OVER_LIMIT)
        elif fault is not None and fault[1] == "status":
            status, body = fault[0], b"<html><body><h1>Bad Gateway</h1></body></html>"
        else:
            status, body = self._route(path, params, token)
            if fault is not None and fault[1] == "truncated":
                body = body[: len(body) // 2]
        with self._lock:
            self.requests.append(Seen(path, params, status, token))
        return status, body, headers

    def _route(self, path: str, params: dict[str, str], token: str) -> tuple[int, bytes]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["1", "validate-token"]:
            given = token or params.get("token", "")
            if not given:
                return 400, _error(400, "You need to provide an Authorization token.")
            if given not in self.tokens:
                return 200, json.dumps({"code": 200, "message": "Token invalid.",
                                        "valid": False}).encode()
            return 200, json.dumps({"code": 200, "message": "Token valid.", "valid": True,
                                    "user_name": self.tokens[given]}).encode()
        if len(parts) == 4 and parts[:2] == ["1", "user"] and parts[3] == "listens":
            return self._listens(parts[2], params)
        return 404, _error(404, "The requested URL was not found on the server.")

    def _listens(self, name: str, params: dict[str, str]) -> tuple[int, bytes]:
        try:
            max_ts = int(params["max_ts"]) if params.get("max_ts") else None
            min_ts = int(params["min_ts"]) if params.get("min_ts") else None
            count = int(params.get("count") or DEFAULT_ITEMS_PER_GET)
        except ValueError:
            return 400, _error(400, "Invalid argument: must be an integer")
        if max_ts is not None and min_ts is not None:
            return 400, _error(400, "You may only specify max_ts or min_ts, not both.")
        if count < 0:
            return 400, _error(400, "Argument count must be a positive integer")
        with self._lock:
            stored = self._users.get(name.lower())
            if stored is None:
                return 404, _error(404, f"Cannot find user: {name}")
            count = min(count, MAX_ITEMS_PER_GET)
            if min_ts is not None:
                after = [item for item in stored if item["listened_at"] > min_ts]
                chosen = after[-count:] if count else []
            else:
                bound = max_ts if max_ts is not None else (stored[0]["listened_at"] + 1
                                                           if stored else 0)
                chosen = [item for item in stored if item["listened_at"] < bound][:count]
            latest = stored[0]["listened_at"] if stored else 0
            oldest = stored[-1]["listened_at"] if stored else 0
            payload = {"count": len(chosen), "listens": chosen, "latest_listen_ts": latest,
                       "oldest_listen_ts": oldest, "user_id": self._names[name.lower()]}
        return 200, json.dumps({"payload": payload}, ensure_ascii=False).encode()


def _error(code: int, message: str) -> bytes:
    return json.dumps({"code": code, "error": message}).encode()


def _scrobble(item: dict[str, Any]) -> Scrobble:
    meta = item["track_metadata"]
    mapping = meta.get("mbid_mapping") or {}
    return Scrobble(item["listened_at"], meta["artist_name"], meta["track_name"],
                    meta.get("release_name", ""), (mapping.get("artist_mbids") or [""])[0],
                    mapping.get("recording_mbid") or "", mapping.get("release_mbid") or "")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the kill tests) is not an error of the fake."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeListenbrainz
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body in one write (flushed after each request)
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        auth = self.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if auth.lower().startswith("token ") else ""
        status, body, headers = self.fake.answer(split.path, params, token,
                                                 self.client_address[0])
        self.send_response(status)
        html = body.startswith(b"<html")
        self.send_header("Content-Type", "text/html" if html else "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None
