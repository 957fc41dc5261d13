"""The dashboard's data: cached counts, each job's last and next run, backfill, the window.

Everything here is a primary-key or small indexed read: the expensive counts come from the
cache that `daemon.store.pagestats` keeps (see web/refresh.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from datetime import time as dt_time
from typing import Any

from sqlalchemy import Connection

from daemon.apply.window import in_window, window_end
from daemon.store import jobruns, pagestats, syncstate


def next_window(window: tuple[dt_time, dt_time],
                moment: datetime) -> tuple[datetime, datetime, bool]:
    """(start, end, open now) of the window containing `moment`, or else of the next one."""
    if in_window(window, moment):
        end = window_end(window, moment)
        start = datetime.combine(end.date(), window[0], moment.tzinfo)
        if start >= end:
            start -= timedelta(days=1)
        return start, end, True
    start = moment.replace(hour=window[0].hour, minute=window[0].minute, second=0,
                           microsecond=0)
    if start <= moment:
        start += timedelta(days=1)
    return start, window_end(window, start), False


def backfill(conn: Connection, user: str) -> dict[str, Any]:
    """How far the user's backfill got: finished windows, the oldest time reached."""
    state = syncstate.load(conn, user)
    windows, oldest, stored = conn.exec_driver_sql(
        "SELECT count(*), min(start), coalesce(sum(total), 0) FROM sync_windows WHERE user = ?",
        (user,)).one()
    return {"user": user, "complete": state.backfill_complete, "started": state.backfill_to,
            "completed_at": state.backfill_completed_at, "last_pull_at": state.last_pull_at,
            "windows_done": int(windows), "reached_back_to": oldest,
            "scrobbles_in_windows": int(stored)}


def last_readback(conn: Connection) -> dict[str, Any] | None:
    """The newest apply's read-back of Plex (`daemon.plex.readback`), with when it ran."""
    row = conn.exec_driver_sql(
        "SELECT counts, finished_at FROM job_runs WHERE job IN ('apply', 'revert') AND "
        "counts LIKE '%\"readback\"%' ORDER BY id DESC LIMIT 1").first()
    if row is None:
        return None
    readback = json.loads(row[0]).get("readback")
    return {**readback, "at": row[1]} if isinstance(readback, dict) else None


JOB_NOTES = {
    "pull": "fetches new scrobbles from last.fm",
    "match": "matches new scrobbled tracks to the library; starts after each pull and "
             "library change",
    "library": "mirrors Plex's music library",
    "plex-watch": "asks Plex every few minutes whether the music library changed, and starts "
                  "library when it did; too light to be logged",
    "tags": "fetches artists' genres from last.fm, for Analytics",
    "apply": "writes matched plays to Plex in the maintenance window",
    "revert": "removes the plays plexfm wrote (plexfm revert)",
    "import": "reads export files (plexfm import)",
}
QUIET_JOBS = frozenset({"tags", "plex-watch"})  # their runs leave the page's counts alone
DRY_RUN = jobruns.DRY_RUN


def _when(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _runs(conn: Connection, job: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The job's newest real run, and its newest dry run when that came after it (a dry run
    writes nothing: it is not the job's last run)."""
    real = dry = None
    for row in conn.exec_driver_sql(  # the (job, started_at) index, newest first
            "SELECT trigger, started_at, finished_at, outcome, counts, error FROM job_runs"
            " WHERE job = ? ORDER BY started_at DESC LIMIT 20", (job,)).mappings():
        run = {**row, "counts": json.loads(row["counts"] or "{}")}
        if run["counts"].get("mode") != DRY_RUN:
            real = run
            break
        dry = dry or run
    return real, dry


def job_rows(conn: Connection, jobs: Sequence[str], *, upcoming: dict[str, datetime | None],
             busy: set[str], on_demand: Sequence[str],
             unlogged: Sequence[str]) -> list[dict[str, Any]]:
    """One row per job of this service and per job the CLI ran: what it does, its last real
    run (and a newer dry run), its next run ("on demand" jobs have none to show)."""
    names = list(dict.fromkeys([*jobs, *sorted(jobruns.latest(conn))]))
    rows = []
    for name in names:
        last, dry = _runs(conn, name)
        rows.append({
            "name": name, "note": JOB_NOTES.get(name, ""), "enabled": name in jobs,
            "running": name in busy, "on_demand": name in on_demand,
            "logged": name not in unlogged,
            "next_run": None if name in on_demand else _when(upcoming.get(name)),
            "last": last, "last_dry_run": dry,
        })
    return rows


def dashboard(
    conn: Connection,
    *,
    users: Sequence[str],
    jobs: Sequence[str],
    next_runs: Callable[[], dict[str, datetime | None]],
    running: Callable[[], set[str]],
    window: tuple[dt_time, dt_time] | None,
    now: datetime,
    on_demand: Sequence[str] = (),
    unlogged: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything the dashboard shows, as plain data (times as Unix seconds).

    The queue is counted now (`pagestats.queue_count`, as on every page); the other counts
    come from the cache. `counting` is true while the cache has no counts or a job that
    moves them finished after they were read: the page then says "counting…" for a 0.
    """
    stats, refreshed = pagestats.load(conn)
    queue = pagestats.queue_count(conn, now.timestamp())
    if stats is not None:
        stats = {**stats, "queued": queue.waiting}
    rows = job_rows(conn, jobs, upcoming=next_runs(), busy=running(), on_demand=on_demand,
                    unlogged=unlogged)
    finished = [r["last"]["finished_at"] for r in rows
                if r["last"] and r["last"]["finished_at"] and r["name"] not in QUIET_JOBS]
    counting = refreshed is None or max(finished, default=0.0) > refreshed
    window_info = None
    if window is not None:
        start, end, open_now = next_window(window, now)
        window_info = {"window": f"{window[0]:%H:%M}-{window[1]:%H:%M}", "open": open_now,
                       "start": start.timestamp(), "end": end.timestamp()}
    return {"stats": stats, "stats_refreshed_at": refreshed, "counting": counting,
            "queue": queue._asdict(), "jobs": rows,
            "backfill": [backfill(conn, user) for user in users], "window": window_info,
            "readback": last_readback(conn)}
