"""Fetch time windows of scrobbles completely, verify them, and store each atomically.

A window is a half-open range [start, end) of Unix seconds. Its first page tells how many
scrobbles it holds; a window larger than `window_pages` pages is split in time (the newest
page's complete part is stored at once, so no request is wasted), the others fetch their
remaining pages concurrently. When every page of a window is in, the pages must add up to the
total the server reported on each of them (`completeness`), or the window is fetched again.
Its rows (with their ordinals computed over the whole window) and, for a backfill, its
checkpoint are then written in one transaction: killed at any moment, the store holds whole
windows only.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields
from typing import Protocol

from sqlalchemy import Engine

from daemon.errors import SyncIntegrityError
from daemon.lastfm.completeness import (
    MAX_WINDOW_ATTEMPTS,
    Window,
    WindowState,
    again,
    split,
    verify,
)
from daemon.lastfm.pages import RecentTracksPage
from daemon.scrobble import Scrobble, with_ordinals
from daemon.stopping import StopToken
from daemon.store import merge, syncstate
from daemon.store.engine import write

log = logging.getLogger(__name__)

MAX_ACTIVE_WINDOWS = 3
MAX_QUEUED_WRITES = 2  # windows fetched but not yet written (bounds memory)


class PageSource(Protocol):
    def __call__(
        self, *, page: int, limit: int, from_uts: int, to_uts: int
    ) -> RecentTracksPage: ...


class Progress(Protocol):
    def expect(self, pages: int) -> None: ...

    def advance(self, pages: int, scrobbles: int) -> None: ...


class NoProgress:
    def expect(self, pages: int) -> None:
        return None

    def advance(self, pages: int, scrobbles: int) -> None:
        return None


@dataclass
class SyncCounts:
    pages: int = 0
    fetched: int = 0
    added: int = 0
    skipped: int = 0
    windows: int = 0
    refetched_windows: int = 0
    merged: int = 0  # plays another source (an import, ListenBrainz) had stored already

    def merge(self, other: SyncCounts) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


class WindowSync:
    """Fetches whole windows through `fetch` and stores them; one instance per run."""

    def __init__(
        self,
        fetch: PageSource,
        engine: Engine,
        user: str,
        *,
        limit: int,
        window_pages: int,
        max_in_flight: int,
        checkpoint: bool,
        progress: Progress | None = None,
        source: str = "lastfm",
        stop: StopToken | None = None,
    ) -> None:
        self._fetch = fetch
        self._engine = engine
        self._user = user
        self._limit = limit
        self._window_items = max(1, window_pages) * limit
        self._max_in_flight = max(1, max_in_flight)
        self._checkpoint = checkpoint
        self._progress = progress or NoProgress()
        self._source = source
        self._stop = stop
        self.counts = SyncCounts()
        self._pending: deque[WindowState] = deque()
        self._active: list[WindowState] = []
        self._futures: dict[Future[RecentTracksPage], tuple[WindowState, int, int]] = {}
        self._writes: deque[Future[merge.Stored]] = deque()
        self._writer: ThreadPoolExecutor | None = None

    def run(
        self, windows: list[Window], first_pages: dict[Window, RecentTracksPage] | None = None
    ) -> SyncCounts:
        """Fetch and store every window (given newest first); raise on a failure that persists.

        `first_pages` holds page 1 of a window the caller already fetched (not asked again).
        """
        self._pending.extend(WindowState(w) for w in windows)
        pool = ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="lastfm")
        finished = False
        with ThreadPoolExecutor(1, thread_name_prefix="store") as writer:
            self._writer = writer
            try:
                for state in list(self._pending):
                    if first_pages and state.window in first_pages:
                        self._pending.remove(state)
                        self._active.append(state)
                        self._on_page(state, 1, first_pages[state.window])
                self._loop(pool)
                finished = True
            finally:
                # on the way out (an error, a stop), requests still in flight are abandoned
                # rather than waited for; every window already fetched is still written
                pool.shutdown(wait=finished, cancel_futures=True)
                while self._writes:
                    self._harvest_write()
        return self.counts

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        while self._pending or self._active or self._futures:
            if self._stop is not None:
                self._stop.check()
            self._fill(pool)
            if not self._futures:
                if self._pending or self._active:
                    raise RuntimeError("window sync stalled with work left")  # a bug, not input
                break
            done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
            while self._writes and self._writes[0].done():
                self._harvest_write()  # surfaces a failed write promptly
            for future in done:
                state, page, generation = self._futures.pop(future)
                result = future.result()  # a persistent API error ends the run here
                if generation == state.generation:
                    self._on_page(state, page, result)

    def _fill(self, pool: ThreadPoolExecutor) -> None:
        while len(self._futures) < self._max_in_flight:
            task = self._next_task()
            if task is None:
                return
            state, page = task
            window = state.window
            future = pool.submit(
                self._fetch, page=page, limit=self._limit, from_uts=window.start,
                to_uts=window.end,
            )
            self._futures[future] = (state, page, state.generation)

    def _next_task(self) -> tuple[WindowState, int] | None:
        for state in self._active:
            if state.total is not None and state.next_page <= state.total_pages:
                state.next_page += 1
                return state, state.next_page - 1
        if self._pending and len(self._active) < MAX_ACTIVE_WINDOWS:
            state = self._pending.popleft()
            self._active.append(state)
            return state, 1
        return None

    def _on_page(self, state: WindowState, page: int, result: RecentTracksPage) -> None:
        self.counts.pages += 1
        self._progress.advance(1, len(result.scrobbles))
        if page == 1:
            self._on_first_page(state, result)
        elif state.later_page(page, result):
            self._finish(state)

    def _on_first_page(self, state: WindowState, result: RecentTracksPage) -> None:
        window = state.window
        state.first_page(result, self._limit)
        if not state.counted:
            self._progress.expect(state.total_pages)
            state.counted = True
        if result.total > self._window_items and window.end - window.start > 1:
            self._active.remove(state)
            self.counts.skipped += result.skipped  # page 1 is not asked for again
            cut = split(window, result, self._limit, self._window_items)
            if cut.stored is not None:
                self._store(*cut.stored, len(cut.stored[1]))
            for piece in reversed(cut.pieces):  # newest first, ahead of the other windows
                self._pending.appendleft(WindowState(piece, counted=True))
            log.debug("split window %s (%s scrobbles) into %s windows", window, result.total,
                      len(cut.pieces))
        elif state.total_pages == 1:
            self._finish(state)

    def _finish(self, state: WindowState) -> None:
        problem = verify(state, self._limit)
        if problem:
            self._retry(state, problem)
            return
        items, skipped = state.items()
        self.counts.skipped += skipped
        self._active.remove(state)
        self._store(state.window, items, state.total or 0)

    def _retry(self, state: WindowState, problem: str) -> None:
        self.counts.refetched_windows += 1
        window = state.window
        if state.attempts + 1 >= MAX_WINDOW_ATTEMPTS:
            raise SyncIntegrityError(
                f"window {window} did not add up after "
                f"{state.attempts + 1} attempts: {problem}"
            )
        log.info("fetching window %s again: %s", window, problem)
        self._active.remove(state)
        for retry in reversed(again(state)):
            self._pending.appendleft(retry)

    def _store(self, window: Window, items: list[Scrobble], total: int) -> None:
        """Hand the window to the single writer thread, so fetching goes on meanwhile."""
        assert self._writer is not None  # noqa: S101 - set for the duration of run()
        while len(self._writes) >= MAX_QUEUED_WRITES:
            self._harvest_write()
        self._writes.append(self._writer.submit(self._write, window, items, total))
        self.counts.windows += 1
        self.counts.fetched += len(items)

    def _harvest_write(self) -> None:
        stored = self._writes.popleft().result()
        self.counts.added += stored.added
        self.counts.merged += stored.merged

    def _write(self, window: Window, items: list[Scrobble], total: int) -> merge.Stored:
        """Store one verified window with its checkpoint, in one transaction; a play another
        source stored already (within the merge tolerance) is merged, not stored twice."""
        rows = with_ordinals(items)
        with write(self._engine) as conn:
            stored = merge.store_plays(conn, self._user, rows, self._source)
            if self._checkpoint:
                syncstate.mark_window_done(
                    conn, self._user, window.start, window.end, total, stored.added
                )
        return stored


def page_fetcher(
    recent_tracks: Callable[..., RecentTracksPage], user: str
) -> PageSource:
    """Bind a client's recent_tracks to one user, as WindowSync wants it."""

    def fetch(*, page: int, limit: int, from_uts: int, to_uts: int) -> RecentTracksPage:
        return recent_tracks(user, page=page, limit=limit, from_uts=from_uts, to_uts=to_uts)

    return fetch
