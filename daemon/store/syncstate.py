"""Checkpoints of the last.fm sync: backfill bounds, finished windows, incremental cursor."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from daemon.store.tables import sync_state, sync_windows


@dataclass(frozen=True)
class SyncState:
    user: str
    backfill_to: int | None = None
    backfill_started_at: int | None = None
    backfill_completed_at: int | None = None
    cursor: int | None = None
    last_pull_at: int | None = None
    page_size: int | None = None

    @property
    def backfill_complete(self) -> bool:
        return self.backfill_completed_at is not None


def load(conn: Connection, user: str) -> SyncState:
    """The user's sync state (an empty one before the first pull)."""
    row = conn.execute(select(sync_state).where(sync_state.c.user == user)).mappings().first()
    return SyncState(**row) if row else SyncState(user=user)


def save(conn: Connection, state: SyncState) -> None:
    """Insert or replace the user's sync state row."""
    values = {
        "backfill_to": state.backfill_to,
        "backfill_started_at": state.backfill_started_at,
        "backfill_completed_at": state.backfill_completed_at,
        "cursor": state.cursor,
        "last_pull_at": state.last_pull_at,
        "page_size": state.page_size,
    }
    changed = conn.execute(
        update(sync_state).where(sync_state.c.user == state.user).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(sync_state).values(user=state.user, **values))


def mark_window_done(
    conn: Connection, user: str, start: int, end: int, total: int, added: int
) -> None:
    """Record that every scrobble with start <= uts < end is stored (same transaction as rows)."""
    conn.execute(
        insert(sync_windows)
        .prefix_with("OR REPLACE")
        .values(user=user, start=start, end=end, total=total, added=added,
                done_at=int(time.time()))
    )


def done_windows(conn: Connection, user: str) -> list[tuple[int, int]]:
    """Finished backfill windows as sorted (start, end) pairs."""
    rows = conn.execute(
        select(sync_windows.c.start, sync_windows.c.end)
        .where(sync_windows.c.user == user)
        .order_by(sync_windows.c.start)
    )
    return [(int(a), int(b)) for a, b in rows]


def forget_windows(conn: Connection, user: str) -> None:
    """Drop the window checkpoints (a new full backfill starts)."""
    conn.execute(delete(sync_windows).where(sync_windows.c.user == user))


def gaps(done: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of [start, end) not covered by the sorted `done` windows, newest first."""
    missing: list[tuple[int, int]] = []
    position = start
    for a, b in done:
        if b <= position:
            continue
        if a >= end:
            break
        if a > position:
            missing.append((position, a))
        position = max(position, b)
    if position < end:
        missing.append((position, end))
    missing.reverse()
    return missing
