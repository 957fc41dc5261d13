"""One HTTP request with hard limits: a total deadline and a cap on the (decompressed) body.

requests' timeout bounds each socket read, not the request: a server sending one byte every
few seconds keeps it alive forever, and a body is read whole however large it is (a gzip bomb
inflates to gigabytes). Here every request has a deadline for all of it (connect, headers,
body): a watchdog thread shuts the connection's socket down when it passes, which ends a
blocked read at once, and the body is read in chunks, decompressed chunk by chunk, counted
against `MAX_BODY_BYTES` and the deadline as the chunks arrive. Either limit is a transient
error ("last.fm response exceeded ..."): the client retries it with backoff like a 5xx.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import BaseHTTPResponse, HTTPResponse

from daemon.errors import LastfmTransientError

MAX_BODY_BYTES = 32 * 1024 * 1024
"""Largest body accepted, after decompression. A page of 1000 scrobbles is 0.5-1 MB."""
READ_CHUNK = 1024 * 1024
CONNECT_TIMEOUT = 10.0

Clock = Callable[[], float]


class _Watch:
    """One request under the watchdog: its deadline and, once sent, its socket."""

    __slots__ = ("deadline", "expired", "sock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.sock: socket.socket | None = None


def _cut(sock: socket.socket) -> None:
    """End every blocked read on `sock` now (the connection is dropped, not reused)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """A single daemon thread that cuts the connection of every request past its deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: set[_Watch] = set()
        self._thread: threading.Thread | None = None
        self._wake: float | None = None  # when the thread wakes up next (None: when told)
        self._current: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
            "request_watch", default=None)

    @contextlib.contextmanager
    def guard(self, seconds: float) -> Iterator[_Watch]:
        """Watch the request made inside this block (in this thread) for `seconds`."""
        watch = _Watch(time.monotonic() + seconds)
        token = self._current.set(watch)
        with self._cond:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="request-watchdog",
                                                daemon=True)
                self._thread.start()
            if self._wake is None or watch.deadline < self._wake:
                self._cond.notify()  # otherwise it wakes up before this deadline anyway
        try:
            yield watch
        finally:
            self._current.reset(token)
            with self._cond:
                self._watches.discard(watch)
                watch.sock = None

    def attach(self, sock: socket.socket | None) -> None:
        """The connection of this thread's watched request is `sock` (called once sent)."""
        watch = self._current.get()
        if watch is None or sock is None:
            return
        with self._cond:
            if watch in self._watches:
                watch.sock = sock
                if watch.expired:
                    _cut(sock)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                wake: float | None = None
                for watch in self._watches:
                    if watch.expired:
                        continue
                    if watch.deadline <= now:
                        watch.expired = True
                        if watch.sock is not None:
                            _cut(watch.sock)
                    elif wake is None or watch.deadline < wake:
                        wake = watch.deadline
                self._wake = wake
                self._cond.wait(None if wake is None else wake - now)


WATCHDOG = Watchdog()


class _GuardedHTTPConnection(HTTPConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        WATCHDOG.attach(self.sock)
        return super().getresponse()


class _GuardedHTTPSConnection(HTTPSConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        WATCHDOG.attach(self.sock)
        return super().getresponse()


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _GuardedHTTPPool,
                                               "https": _GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """requests' adapter whose connections report their socket to the watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> urllib3.ProxyManager:
        manager: urllib3.ProxyManager = super().proxy_manager_for(proxy, **kwargs)
        if type(manager) is urllib3.ProxyManager:  # a SOCKS manager keeps its own pools
            manager.pool_classes_by_scheme = _POOLS
        return manager


class _NoRedirects(requests.Session):
    """A session that sees no redirect: requests reads (and inflates) a redirect's whole body
    before deciding anything, even with allow_redirects=False. An API call is never
    redirected; a 3xx is answered like any other unexpected status."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def guarded_session() -> requests.Session:
    """A requests session whose requests the watchdog can cut at their deadline."""
    session = _NoRedirects()
    session.mount("http://", GuardedAdapter())
    session.mount("https://", GuardedAdapter())
    return session


def pin_environment(session: requests.Session, url: str) -> None:
    """Take what requests reads from the environment for `url` (proxies and NO_PROXY, the CA
    bundle variables, ~/.netrc credentials) once, now, instead of on every request (where it
    re-reads the whole environment twice and stats ~/.netrc: ~0.1 ms per request)."""
    if not session.trust_env:
        return
    settings = session.merge_environment_settings(url, {}, None, None, None)
    if session.auth is None:
        session.auth = requests.utils.get_netrc_auth(url)
    session.proxies = settings["proxies"]
    session.verify = settings["verify"]
    session.cert = settings["cert"]
    session.trust_env = False


def size_text(size: int) -> str:
    """A byte count for people: 32 MiB, 64 KiB, 1500 bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


class _TooLargeError(Exception):
    pass


class _LateError(Exception):
    pass


def read_body(raw: BaseHTTPResponse, *, deadline: float, max_bytes: int,
              clock: Clock = time.monotonic) -> bytes:
    """The decompressed body, read as it arrives; _TooLargeError past `max_bytes`,
    _LateError past `deadline`.

    A body of announced length that is not compressed (last.fm's pages) is read by one call
    into one buffer of that size: no chunks to allocate and join (their fresh memory cost a
    pull more CPU in page faults than the copies themselves). The watchdog still ends that
    read at the deadline; a compressed or unannounced body is read chunk by chunk."""
    if clock() >= deadline:
        raise _LateError
    announced = raw.headers.get("Content-Length", "")
    if announced.isdigit() and raw.headers.get("Content-Encoding", "identity") == "identity":
        if int(announced) > max_bytes:
            raise _TooLargeError
        return raw.read(int(announced), decode_content=True)
    parts: list[bytes] = []
    size = 0
    while True:
        if clock() >= deadline:
            raise _LateError
        chunk = raw.read1(READ_CHUNK, decode_content=True)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > max_bytes:
            raise _TooLargeError
        parts.append(chunk)


def post_form(
    session: requests.Session,
    url: str,
    form: dict[str, str],
    *,
    timeout: float,
    max_bytes: int = MAX_BODY_BYTES,
    what: str,
    service: str = "last.fm",
    clock: Clock = time.monotonic,
) -> tuple[bytes, int]:
    """POST `form` to `url`; return (body, HTTP status) or raise LastfmTransientError when
    the answer takes longer than `timeout` seconds in all, or its body exceeds `max_bytes`
    (decompressed), or the server cannot be reached. Messages name `what`, never the form."""
    deadline = clock() + timeout
    late = f"{service} response exceeded the {timeout:g} s deadline ({what})"
    large = f"{service} response exceeded {size_text(max_bytes)} ({what})"
    with WATCHDOG.guard(timeout) as watch:
        try:
            response = session.post(url, data=form, stream=True, allow_redirects=False,
                                    timeout=(min(CONNECT_TIMEOUT, timeout), timeout))
            try:
                announced = response.headers.get("Content-Length", "")
                if announced.isdigit() and int(announced) > max_bytes:
                    raise _TooLargeError
                content = read_body(response.raw, deadline=deadline, max_bytes=max_bytes,
                                    clock=clock)
            except BaseException:
                response.close()  # unread data left: the connection cannot be reused
                raise
            response.raw.release_conn()
        except _TooLargeError:
            raise LastfmTransientError(large) from None
        except _LateError:
            raise LastfmTransientError(late) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if watch.expired:
                raise LastfmTransientError(late) from exc
            if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError):
                raise LastfmTransientError(
                    f"{service} did not answer within {timeout:g} s ({what})") from exc
            raise LastfmTransientError(
                f"cannot reach {service} ({what}): {exc.__class__.__name__}") from exc
    return content, response.status_code
