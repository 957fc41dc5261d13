"""What the store holds, for `plexfm status` (and later the page and /healthz)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from daemon.logs import plural
from daemon.store import jobruns, ledger, matches, pagestats, syncstate
from daemon.store import library as library_store
from daemon.store import scrobbles as scrobble_queries


def collect_status(
    engine: Engine, user: str, accounts: dict[str, int] | None = None, *,
    now: float | None = None,
) -> dict[str, Any]:
    """Plain data: counts, time span, backfill state and each job's last run (`now`: the
    clock, for what may be written yet)."""
    with engine.connect() as conn:
        stats = scrobble_queries.stats(conn)
        quarantined = scrobble_queries.quarantined(conn)
        state = syncstate.load(conn, user)
        runs = jobruns.latest(conn, real_only=True)  # a dry run is not the job's last run
        by_status = matches.status_counts(conn)
        queue = pagestats.queue_count(conn, datetime.now(UTC).timestamp())
        library_tracks = library_store.count(conn)
        applied = ledger.summary(conn)
        matched_plays = ledger.matched_play_count(conn, list(accounts or {user: 1}),
                                                  now=time.time() if now is None else now)
    return {
        "applied_plays": applied["applied_plays"],
        "already_in_plex": applied["already_in_plex"],
        "pending_plays": max(0, matched_plays - applied["applied_plays"]
                             - applied["already_in_plex"]),
        "last_apply": applied["last_apply"],
        "ledger_checked_at": (applied["last_check"] or {}).get("checked_at"),
        "ledger_checked_by": (applied["last_check"] or {}).get("source"),
        "library_tracks": library_tracks,
        "matched": by_status[matches.AUTO] + by_status[matches.MANUAL],
        "matched_auto": by_status[matches.AUTO],
        "matched_manual": by_status[matches.MANUAL],
        "queued": queue.waiting,  # as the status page and /metrics count it
        "queue_skipped": queue.skipped,
        "not_in_library": by_status[matches.NOT_IN_LIBRARY],
        "scrobbles": stats.scrobbles,
        "first_scrobble": stats.first_scrobble,
        "last_scrobble": stats.last_scrobble,
        "quarantined": quarantined,
        "backfill_complete": state.backfill_complete,
        "backfill_to": state.backfill_to,
        "last_pull_at": state.last_pull_at,
        "jobs": {
            name: {"outcome": run.outcome, "started_at": run.started_at,
                   "finished_at": run.finished_at, "error": run.error, "counts": run.counts}
            for name, run in sorted(runs.items())
        },
    }


def _checked(status: dict[str, Any], when: Callable[[float | None], str]) -> str:
    """Says as of when the written count is true: plexfm checks its ledger against Plex's
    database at every apply, revert and restore (a restore may remove plays it wrote)."""
    at = status.get("ledger_checked_at")
    if at is None:
        return "            (not yet checked against Plex's database: the next apply does)"
    return (f"            (plays written: as checked against Plex's database at {when(at)}, "
            f"by the last {status.get('ledger_checked_by') or 'apply'})")


def format_status(status: dict[str, Any]) -> str:
    """The status as a few human lines."""
    def when(ts: float | None) -> str:
        if ts is None:
            return "never"
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")

    lines = [
        f"scrobbles:  {status['scrobbles']:,}",
        f"first:      {when(status['first_scrobble'])}",
        f"last:       {when(status['last_scrobble'])}",
        *([f"quarantine: {status['quarantined']:,} scrobbles dated outside 0 <= uts <= now + 1"
           " day (table scrobbles_quarantine)"] if status.get("quarantined") else []),
        f"backfill:   {'complete' if status['backfill_complete'] else 'incomplete'}",
        f"last pull:  {when(status['last_pull_at'])}",
        f"library:    {plural(status['library_tracks'], 'track')}",
        f"matches:    {status['matched']:,} matched ({status['matched_auto']:,} automatically),"
        f" {status['queued']:,} queued ({status['queue_skipped']:,} skipped for now),"
        f" {status['not_in_library']:,} not in library",
        f"plex:       {plural(status['applied_plays'], 'play')} written, "
        f"{status['already_in_plex']:,} already there, {status['pending_plays']:,} waiting for "
        "the next window",
        _checked(status, when),
    ]
    last = status["last_apply"]
    if last:
        several = last.get("transactions", 1) > 1
        lines.append(f"last apply: {last['state']} at {when(last['started_at'])} ({last['mode']}"
                     f", +{last['added']:,} / -{last['removed']:,}"
                     + (f" in {last['transactions']:,} transactions)" if several else ")"))
    for name, run in status["jobs"].items():
        suffix = f" ({run['error']})" if run["error"] else ""
        lines.append(f"job {name}: {run['outcome']} at {when(run['started_at'])}{suffix}")
    return "\n".join(lines)
