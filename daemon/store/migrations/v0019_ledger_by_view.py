"""Migration 19: the ledger's written rows indexed in history id order, covering.

Every apply compares each ledger row with its history row in Plex's database
(`daemon.plex.history.ledger_mismatches`). Probed in scrobble id order, the history rows were
read in the order of their ids only while ids followed scrobble time; written grouped by track
(`PlayColumns.history_order`), they are probed at random over the whole history table (1M
rows: 2.1 s instead of 0.26 s). Read through this index, the probes walk Plex's table in id
order, and the index carries every column compared, so the ledger's own rows are not read.
"""

from daemon.store.migrations.base import sql

NAME = "ledger rows by history id (covering, for the reconciliation)"
APPLY = sql(
    "CREATE INDEX ix_applied_plays_view ON applied_plays (view_id, account_id, guid, viewed_at)"
    " WHERE view_id IS NOT NULL",
)
