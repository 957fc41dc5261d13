"""Store tables: the apply ledger: plays written to Plex, plays already in Plex, apply batches,
checks of the ledger against Plex's database."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, Table, Text

from daemon.store.tables.base import metadata

applied_plays = Table(
    "applied_plays",
    metadata,
    Column("scrobble_id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("rating_key", Integer, nullable=False),
    Column("view_id", Integer),
    Column("batch_id", Integer, nullable=False),
    Column("applied_at", Integer, nullable=False),
    # migration 9: the fingerprint of the history row written (NULL: unknown, never deleted)
    Column("guid", Text),
    Column("viewed_at", Integer),
)

plays_in_plex = Table(
    "plays_in_plex",
    metadata,
    Column("scrobble_id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("rating_key", Integer, nullable=False),
    Column("native_viewed_at", Integer, nullable=False),
    Column("checked_at", Integer, nullable=False),
)

apply_batches = Table(
    "apply_batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("mode", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("max_view_id_before", Integer),
    Column("added", Integer, nullable=False, server_default="0"),
    Column("removed", Integer, nullable=False, server_default="0"),
    Column("already_in_plex", Integer, nullable=False, server_default="0"),
    Column("backup", Text),
    Column("note", Text),
)

ledger_checks = Table(
    "ledger_checks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("checked_at", Float, nullable=False),
    Column("source", Text, nullable=False),
    Column("present", Integer, nullable=False),
    Column("forgotten", Integer, nullable=False),
    Column("natives_gone", Integer, nullable=False),
)

# migration 4: the status page looks plays up per library track
Index("ix_applied_plays_rating_key", applied_plays.c.rating_key)
# migration 19: the reconciliation reads written rows in history id order (covering)
Index("ix_applied_plays_view", applied_plays.c.view_id, applied_plays.c.account_id,
      applied_plays.c.guid, applied_plays.c.viewed_at,
      sqlite_where=applied_plays.c.view_id.isnot(None))

# migration 18: the incremental plan (`daemon.store.plan_scope`)
plan_basis = Table(
    "plan_basis",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("accounts", Text, nullable=False),
    Column("bound", Float, nullable=False),
    Column("watermark", Integer, nullable=False),
    Column("change_seq", Integer, nullable=False),
    Column("matched", LargeBinary, nullable=False),
    Column("unresolved", LargeBinary, nullable=False),
    Column("ledger_sum", Text, nullable=False),
    Column("in_plex_sum", Text, nullable=False),
    Column("saved_at", Integer, nullable=False),
)

plan_changes = Table(
    "plan_changes",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("scrobble_id", Integer, nullable=False),
)
