"""Migration 9: the ledger keeps each written row's fingerprint; reconciliation checks.

A history id alone does not name a row of ours: when Plex's database is rolled back, Plex's
next plays reuse the ids we wrote. A row is ours only while it still has the id, account, guid,
time and track type we wrote, so the ledger keeps the guid and the time (epoch seconds).

Old rows are filled conservatively, from what the store itself knows: the time from the
scrobble (exactly what was written), the guid from the library mirror (what Plex reported for
the track). Where either is unknown (the scrobble or the mirror's guid is gone) it stays NULL:
such a row is still checked against Plex by what is known, but never deleted by a revert.
Rows of api mode (no history row) get nothing.
"""

from daemon.store.migrations.base import sql

NAME = "ledger fingerprints (guid, viewed_at) and ledger checks"
APPLY = sql(
    "ALTER TABLE applied_plays ADD COLUMN guid TEXT",
    "ALTER TABLE applied_plays ADD COLUMN viewed_at INTEGER",
    """UPDATE applied_plays SET
        viewed_at = (SELECT s.uts FROM scrobbles s WHERE s.id = applied_plays.scrobble_id),
        guid = (SELECT nullif(l.guid, '') FROM library_tracks l
                WHERE l.rating_key = applied_plays.rating_key)
       WHERE view_id IS NOT NULL""",
    # one row per reconciliation of the ledger with Plex's database (every apply, every restore)
    """CREATE TABLE ledger_checks (
        id INTEGER PRIMARY KEY,
        checked_at REAL NOT NULL,
        source TEXT NOT NULL,
        present INTEGER NOT NULL,
        forgotten INTEGER NOT NULL,
        natives_gone INTEGER NOT NULL
    )""",
)
