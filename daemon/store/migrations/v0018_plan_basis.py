"""Migration 18: what the next apply's plan may take as settled (`daemon.store.plan_scope`).

`plan_basis` (one row) is saved after an apply that finished: the inputs its plan read (the
mapped accounts, the time bound, the highest scrobble id, the matched tracks) and what the
ledger and the "already in Plex" records summed to afterwards. `plan_changes` logs every
scrobble whose track, user or time changed or which was deleted (by trigger, whatever wrote
it); scrobble_tracks must never be written with INSERT OR REPLACE (SQLite's REPLACE fires no
delete trigger), and an id at or below the highest mapped one is never inserted again (no
trigger sees a plain INSERT; the plan takes ids above the highest it read as new): the fold
maps only ids above the last it folded, and upserts. A later migration that rewrites
scrobble_tracks, matches, applied_plays or plays_in_plex without going through their triggers
must delete the plan_basis row (the next plan then reads the whole history).
"""

from daemon.store.migrations.base import sql

NAME = "plan basis and scrobble change log (incremental apply plan)"
APPLY = sql(
    """CREATE TABLE plan_basis (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        accounts TEXT NOT NULL,
        bound REAL NOT NULL,
        watermark INTEGER NOT NULL,
        change_seq INTEGER NOT NULL,
        matched BLOB NOT NULL,
        unresolved BLOB NOT NULL,
        ledger_sum TEXT NOT NULL,
        in_plex_sum TEXT NOT NULL,
        saved_at INTEGER NOT NULL
    )""",
    """CREATE TABLE plan_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        scrobble_id INTEGER NOT NULL
    )""",
    """CREATE TRIGGER plan_scrobble_updated
    AFTER UPDATE OF scrobble_id, track_id, user, uts ON scrobble_tracks BEGIN
        INSERT INTO plan_changes (scrobble_id) VALUES (old.scrobble_id);
        INSERT INTO plan_changes (scrobble_id) SELECT new.scrobble_id
            WHERE new.scrobble_id != old.scrobble_id;
    END""",
    """CREATE TRIGGER plan_scrobble_deleted AFTER DELETE ON scrobble_tracks BEGIN
        INSERT INTO plan_changes (scrobble_id) VALUES (old.scrobble_id);
    END""",
)
