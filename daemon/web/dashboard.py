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


def _when(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def dashboard(
    conn: Connection,
    *,
    users: Sequence[str],
    jobs: Sequence[str],
    next_runs: Callable[[], dict[str, datetime | None]],
    running: Callable[[], set[str]],
    window: tuple[dt_time, dt_time] | None,
    now: datetime,
) -> dict[str, Any]:
    """Everything the dashboard shows, as plain data (times as Unix seconds)."""
    stats, refreshed = pagestats.load(conn)
    runs = jobruns.latest(conn)
    upcoming = next_runs()
    busy = running()
    names = list(dict.fromkeys([*jobs, *sorted(runs)]))
    job_rows = []
    for name in names:
        run = runs.get(name)
        job_rows.append({
            "name": name, "enabled": name in jobs, "running": name in busy,
            "next_run": _when(upcoming.get(name)),
            "last": None if run is None else {
                "outcome": run.outcome, "trigger": run.trigger, "started_at": run.started_at,
                "finished_at": run.finished_at, "error": run.error, "counts": run.counts},
        })
    window_info = None
    if window is not None:
        start, end, open_now = next_window(window, now)
        window_info = {"window": f"{window[0]:%H:%M}-{window[1]:%H:%M}", "open": open_now,
                       "start": start.timestamp(), "end": end.timestamp()}
    return {"stats": stats, "stats_refreshed_at": refreshed, "jobs": job_rows,
            "backfill": [backfill(conn, user) for user in users], "window": window_info,
            "readback": last_readback(conn)}
