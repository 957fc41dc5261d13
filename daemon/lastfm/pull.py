"""last.fm pulls into the store: the backfill in verified windows, then incremental pulls.

Each job function takes its dependencies as arguments (clients, the store engine, plain
settings) and returns a dict of counts for the job_runs record. The scheduler and the CLI call
the same functions.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine

from daemon.lastfm.client import FALLBACK_PAGE, LastfmClient, LimitRefusedError
from daemon.lastfm.completeness import Window
from daemon.lastfm.windows import Progress, SyncCounts, WindowSync, page_fetcher
from daemon.logs import local_time, plural
from daemon.scrobble import with_ordinals
from daemon.stopping import StopToken
from daemon.store import merge, syncstate
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write

log = logging.getLogger(__name__)

IMPORT_BATCH = 50_000
YOUNG_COLLECTION_EVERY = 50_000
"""During a pull, the cyclic GC's youngest generation is collected after this many new
container objects instead of CPython's 700: a backfill creates millions of short-lived tuples
and records that never form cycles, and collecting them cost a fifth of the pull's CPU."""


@dataclass(frozen=True)
class PullSettings:
    user: str
    page_size: int = 1000
    window_pages: int = 20
    max_in_flight: int = 8
    overlap_seconds: int = 14 * 86400


def pull(
    client: LastfmClient,
    engine: Engine,
    settings: PullSettings,
    *,
    full: bool = False,
    now: Callable[[], float] = time.time,
    progress: Progress | None = None,
    stop: StopToken | None = None,
) -> dict[str, Any]:
    """Bring the store up to date with last.fm: finish (or restart) the backfill, then pull new.

    Returns counts: requests, retries, pages, fetched, added, merged (with a play another
    source stored), skipped, windows, refetched_windows.
    """
    with _fewer_collections():
        return _pull(client, engine, settings, full=full, now=now, progress=progress,
                     stop=stop)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], YOUNG_COLLECTION_EVERY), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _pull(
    client: LastfmClient,
    engine: Engine,
    settings: PullSettings,
    *,
    full: bool,
    now: Callable[[], float],
    progress: Progress | None,
    stop: StopToken | None,
) -> dict[str, Any]:
    requests_before, retries_before = client.requests_sent, client.retries
    with write(engine) as conn:
        state = syncstate.load(conn, settings.user)
        if full or state.backfill_to is None:
            started = int(now())
            state = replace(state, backfill_to=started, backfill_started_at=started,
                            backfill_completed_at=None)
            syncstate.forget_windows(conn, settings.user)
            syncstate.save(conn, state)
            log.info("backfill of %s's history up to %s starts", settings.user,
                     local_time(started))
    limit = state.page_size or settings.page_size
    counts = SyncCounts()
    while True:
        try:
            if not state.backfill_complete:
                state = _backfill(client, engine, settings, state, limit, counts, progress,
                                  stop)
            state = _incremental(client, engine, settings, state, limit, counts, now, progress,
                                 stop)
            break
        except LimitRefusedError:
            if limit <= FALLBACK_PAGE:
                raise
            log.info("last.fm refused pages of %s; using %s", limit, FALLBACK_PAGE)
            limit = FALLBACK_PAGE
            with write(engine) as conn:
                state = replace(syncstate.load(conn, settings.user), page_size=limit)
                syncstate.save(conn, state)
    return {
        "requests": client.requests_sent - requests_before,
        "retries": client.retries - retries_before,
        "pages": counts.pages,
        "fetched": counts.fetched,
        "added": counts.added,
        "merged": counts.merged,
        "skipped": counts.skipped,
        "windows": counts.windows,
        "refetched_windows": counts.refetched_windows,
        "backfill_complete": state.backfill_complete,
    }


def _window_sync(
    client: LastfmClient,
    engine: Engine,
    settings: PullSettings,
    limit: int,
    *,
    checkpoint: bool,
    progress: Progress | None,
    stop: StopToken | None,
) -> WindowSync:
    return WindowSync(
        page_fetcher(client.recent_tracks, settings.user), engine, settings.user,
        limit=limit, window_pages=settings.window_pages, max_in_flight=settings.max_in_flight,
        checkpoint=checkpoint, progress=progress, stop=stop,
    )


def _backfill(
    client: LastfmClient,
    engine: Engine,
    settings: PullSettings,
    state: syncstate.SyncState,
    limit: int,
    counts: SyncCounts,
    progress: Progress | None,
    stop: StopToken | None,
) -> syncstate.SyncState:
    assert state.backfill_to is not None  # noqa: S101 - set by pull() before
    with engine.connect() as conn:
        done = syncstate.done_windows(conn, settings.user)
    missing = syncstate.gaps(done, 0, state.backfill_to)
    if missing:
        log.info("backfill: %s left before %s", plural(len(missing), "window"),
                 local_time(state.backfill_to))
        sync = _window_sync(client, engine, settings, limit, checkpoint=True, progress=progress,
                            stop=stop)
        try:
            sync.run([Window(a, b) for a, b in missing])
        finally:
            counts.merge(sync.counts)
    with write(engine) as conn:
        state = replace(
            syncstate.load(conn, settings.user),
            backfill_completed_at=int(time.time()),
            cursor=state.cursor or state.backfill_to,
        )
        syncstate.save(conn, state)
    log.info("backfill of %s complete", settings.user)
    return state


def _incremental(
    client: LastfmClient,
    engine: Engine,
    settings: PullSettings,
    state: syncstate.SyncState,
    limit: int,
    counts: SyncCounts,
    now: Callable[[], float],
    progress: Progress | None,
    stop: StopToken | None,
) -> syncstate.SyncState:
    """Fetch [cursor - overlap, now): new scrobbles plus late (backdated) arrivals."""
    end = int(now())
    cursor = state.cursor if state.cursor is not None else end
    window = Window(max(0, cursor - settings.overlap_seconds), end)
    first = client.recent_tracks(
        settings.user, page=1, limit=limit, from_uts=window.start, to_uts=window.end
    )
    complete = len(first.scrobbles) + first.skipped >= first.total
    with write(engine) as conn:
        # page 1 alone may cut a second's identical plays short; ordinals 0..k-1 of a
        # partial group are still a subset of the whole group's, so nothing is doubled
        stored_first = merge.store_plays(conn, settings.user, with_ordinals(first.scrobbles),
                                         "lastfm")
        counts.added += stored_first.added
        counts.merged += stored_first.merged
        stored = scrobble_queries.count_between(conn, settings.user, window.start, window.end)
    if complete or stored == first.total:
        counts.pages += 1
        counts.fetched += len(first.scrobbles)
        counts.skipped += first.skipped
    else:  # the window sync counts page 1 with the window's other pages
        sync = _window_sync(client, engine, settings, limit, checkpoint=False, progress=progress,
                            stop=stop)
        try:
            sync.run([window], first_pages={window: first})
        finally:
            counts.merge(sync.counts)
    with write(engine) as conn:
        state = replace(syncstate.load(conn, settings.user), cursor=end, last_pull_at=end)
        syncstate.save(conn, state)
    return state
