"""Logged-in sessions, kept on the server: the signed cookie only names one.

A login starts a session (a random id in the cookie); every request checks that the id is
still known. Logout forgets it, so a copied cookie stops working too; a restart forgets all of
them (the registry is in memory), and a session ends at the latest LIFETIME after its login.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

LIFETIME = 30 * 86_400  # seconds from the login
MAX_SESSIONS = 1_000  # the oldest are ended first (one owner: a handful of browsers)


class Sessions:
    """The live session ids and when each started (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started: OrderedDict[str, float] = OrderedDict()

    def start(self) -> str:
        """A new session's id."""
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._started[sid] = self._clock()
            while len(self._started) > MAX_SESSIONS:
                self._started.popitem(last=False)
        return sid

    def valid(self, sid: object) -> bool:
        """True while `sid` names a session that was started, not ended, and is not too old."""
        if not isinstance(sid, str):
            return False
        with self._lock:
            started = self._started.get(sid)
            if started is None:
                return False
            if self._clock() - started >= LIFETIME:
                del self._started[sid]
                return False
            return True

    def end(self, sid: object) -> None:
        """Forget session `sid` (logout)."""
        if isinstance(sid, str):
            with self._lock:
                self._started.pop(sid, None)
