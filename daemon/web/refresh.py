"""Keeps the page's cached counts fresh in the background: after job runs and decisions.

`request()` returns at once; one refresh runs at a time on its own thread, requests made
meanwhile collapse into one more refresh. After decisions it comes at most one per
`min_interval` seconds (a refresh reads every scrobble: seconds of work on a large store, so
the page's counts may trail a decision by that much; the dashboard says when they were
computed); after a job (`urgent`: a pull or a library refresh moves the counts a lot) it
comes right after the one in progress. A failed refresh is logged and leaves the previous
counts in place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from daemon.errors import PlexfmError
from daemon.store import pagestats

log = logging.getLogger(__name__)


class StatsRefresher:
    """Coalescing background refresh of `daemon.store.pagestats`."""

    def __init__(self, engine: Engine, users: Sequence[str], *, min_interval: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._engine = engine
        self._users = list(users)
        self._min_interval = min_interval
        self._sleep = sleep
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._urgent = False
        self._idle = threading.Event()
        self._idle.set()
        self.refreshes = 0

    def request(self, urgent: bool = False) -> None:
        """Ask for a refresh soon (coalesced with one in progress; `urgent`: without waiting
        out `min_interval` after it)."""
        with self._lock:
            if self._running:
                self._again = True
                self._urgent = self._urgent or urgent
                return
            self._running = True
            self._idle.clear()
        threading.Thread(target=self._loop, name="page-stats", daemon=True).start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no refresh is running or pending; False on timeout (tests, bench)."""
        return self._idle.wait(timeout)

    def refresh_now(self) -> dict[str, Any]:
        """Refresh in the calling thread; return the counts."""
        started = time.perf_counter()
        counts = pagestats.refresh(self._engine, self._users)
        self.refreshes += 1
        log.debug("page counts refreshed in %.2f s", time.perf_counter() - started)
        return counts

    def _loop(self) -> None:
        finished = False
        try:
            while True:
                started = time.monotonic()
                try:
                    self.refresh_now()
                except PlexfmError as exc:  # e.g. the store file is gone: one line, no trace
                    log.error("refreshing the status page counts failed: %s", exc)
                except Exception:
                    log.exception("refreshing the status page counts failed")
                with self._lock:  # checked and cleared under one lock: no request is lost
                    if not self._again:
                        self._running = False
                        self._idle.set()
                        finished = True
                        return
                    self._again = False
                    urgent, self._urgent = self._urgent, False
                pause = self._min_interval - (time.monotonic() - started)
                if pause > 0 and not urgent:
                    self._sleep(pause)
        finally:
            if not finished:  # the thread died: let the next request start another
                with self._lock:
                    self._running = False
                    self._idle.set()
