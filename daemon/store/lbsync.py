"""Checkpoints of the ListenBrainz pull, one row per ListenBrainz user (see listenbrainz.pull).

Functions take the caller's Connection and never commit: a page's listens and the checkpoint
that says they are stored are written in one transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Connection, insert, select, update

from daemon.store.tables import listenbrainz_sync


@dataclass(frozen=True)
class LbSyncState:
    lb_user: str
    store_user: str
    cursor: int | None = None
    walk_end: int | None = None
    walk_next: int | None = None
    walk_floor: int | None = None
    last_pull_at: int | None = None

    @property
    def walking(self) -> bool:
        return self.walk_end is not None


def load(conn: Connection, lb_user: str, store_user: str) -> LbSyncState:
    """The pull's state for `lb_user` (an empty one before its first pull)."""
    row = conn.execute(
        select(listenbrainz_sync).where(listenbrainz_sync.c.lb_user == lb_user)
    ).mappings().first()
    if row is None:
        return LbSyncState(lb_user, store_user)
    return LbSyncState(**{**row, "store_user": store_user})


def save(conn: Connection, state: LbSyncState) -> None:
    """Insert or replace the state row."""
    values = asdict(state)
    changed = conn.execute(
        update(listenbrainz_sync).where(listenbrainz_sync.c.lb_user == state.lb_user)
        .values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(listenbrainz_sync).values(**values))
