"""ListenBrainz listens into the store, incrementally and crash-safe.

ListenBrainz pages by time only (`max_ts`, newest first), so a pull is a *walk*: fixed upper
bound `walk_end` (the pull's start: listens arriving meanwhile are the next pull's), down to
`walk_floor` (the previous pull's end minus `overlap_seconds`, for listens submitted late;
the whole history on the first pull). Each page's plays and the walk's new position are
written in one transaction, so a kill anywhere resumes the same walk where it stopped: nothing
is lost, and a page fetched twice stores nothing twice (identity dedupe). A page's oldest
second may be cut short by `count`, so the next page starts at that second again. Plays
last.fm (or an import) already stored are merged, not doubled (`store.merge`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine

from daemon.listenbrainz.client import ListenbrainzClient
from daemon.scrobble import with_ordinals
from daemon.stopping import StopToken
from daemon.store import lbsync, merge
from daemon.store.engine import write

log = logging.getLogger(__name__)

SOURCE = "listenbrainz"


@dataclass(frozen=True)
class LbPullSettings:
    lb_user: str
    store_user: str
    page_size: int = 1000
    overlap_seconds: int = 14 * 86_400


def _start(
    engine: Engine, settings: LbPullSettings, now: int
) -> tuple[lbsync.LbSyncState, int, int, bool]:
    """The state with a walk started or resumed: (state, next max_ts, floor, resumed?)."""
    with write(engine) as conn:
        state = lbsync.load(conn, settings.lb_user, settings.store_user)
        if state.walk_next is not None and state.walk_floor is not None:
            log.info("ListenBrainz: resuming the walk of %s at %s", settings.lb_user,
                     state.walk_next)
            return state, state.walk_next, state.walk_floor, True
        floor = 0 if state.cursor is None else max(0, state.cursor - settings.overlap_seconds)
        state = replace(state, walk_end=now + 1, walk_next=now + 1, walk_floor=floor)
        lbsync.save(conn, state)
        return state, now + 1, floor, False


def pull(
    client: ListenbrainzClient,
    engine: Engine,
    settings: LbPullSettings,
    *,
    now: Callable[[], float] = time.time,
    stop: StopToken | None = None,
) -> dict[str, Any]:
    """Store the listens of `settings.lb_user` up to now; return counts for job_runs.

    A walk an earlier run left unfinished is finished first, then a new one catches up.
    """
    requests_before, retries_before = client.requests_sent, client.retries
    counts = {"pages": 0, "fetched": 0, "added": 0, "merged": 0, "already": 0, "skipped": 0,
              "cut_seconds": 0}
    if _walk(client, engine, settings, counts, now, stop):
        _walk(client, engine, settings, counts, now, stop)
    log.info("ListenBrainz pull of %s: %s listens fetched, %s new, %s merged", settings.lb_user,
             counts["fetched"], counts["added"], counts["merged"])
    return {**counts, "requests": client.requests_sent - requests_before,
            "retries": client.retries - retries_before}


def _walk(
    client: ListenbrainzClient,
    engine: Engine,
    settings: LbPullSettings,
    counts: dict[str, int],
    now: Callable[[], float],
    stop: StopToken | None,
) -> bool:
    """Walk down to the floor, a page per transaction; True if the walk was resumed."""
    state, walk_next, floor, resumed = _start(engine, settings, int(now()))
    while True:
        if stop is not None:
            stop.check()
        page = client.listens(settings.lb_user, max_ts=walk_next, count=settings.page_size,
                              now=now())
        counts["pages"] += 1
        counts["fetched"] += page.count
        counts["skipped"] += len(page.skipped)
        done = page.oldest is None or page.count < settings.page_size or page.oldest < floor
        following = walk_next
        if not done and page.oldest is not None:
            following = page.oldest + 1  # its oldest second again: `count` may have cut it
            if following >= walk_next:  # a whole page of one second
                log.warning("ListenBrainz: more than %s listens of %s in second %s; the rest"
                            " of that second cannot be paged to", settings.page_size,
                            settings.lb_user, page.oldest)
                counts["cut_seconds"] += 1
                following = page.oldest
        rows = with_ordinals(s for s in page.scrobbles if s.uts >= floor)
        with write(engine) as conn:
            stored = merge.store_plays(conn, settings.store_user, rows, SOURCE, clock=now)
            if done:
                state = replace(state, cursor=state.walk_end, walk_end=None, walk_next=None,
                                walk_floor=None, last_pull_at=int(now()))
            else:
                state = replace(state, walk_next=following)
            lbsync.save(conn, state)
        walk_next = following
        counts["added"] += stored.added
        counts["merged"] += stored.merged
        counts["already"] += stored.already
        if done:
            return resumed
