"""Bringing the ledger back in line with Plex's database, inside the apply lock, before writing.

The ledger and Plex's database are two files; they drift apart in two ways:

1. A crash between Plex's commit and ours (`recover`) leaves a batch in state "writing" with
   the highest history id seen before it: the history rows after that id whose (account,
   track, time) the batch meant to write are adopted.
2. Plex's database rolled back under us (`reconcile`): `plexfm restore`, Plex's own backup
   restore, a repair tool. The rows we wrote after that backup are gone, and because SQLite's
   AUTOINCREMENT sequence went back too, Plex's next plays reuse their ids. Every ledger row
   whose history row is no longer exactly what we wrote (id, account, guid, time, track type)
   is forgotten, so the next apply writes that play again and no revert ever deletes the row
   now under that id; every "already in Plex" record whose native play is gone is forgotten
   too, so that scrobble is checked again. Each reconciliation is recorded: the status
   page's written count is true as of the last one. The comparison runs inside SQLite, the
   store attached read-only to a read-only connection to Plex's database
   (`history.ledger_mismatches`): a million ledger rows never pass through Python.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine

from daemon.apply.plan import diff
from daemon.plex import history
from daemon.store import ledger
from daemon.store.engine import write

log = logging.getLogger(__name__)


def recover(engine: Engine, database: Path, accounts: Mapping[str, int]) -> int:
    """Adopt the history rows crashed batches wrote; return how many were adopted."""
    with engine.connect() as conn:
        unfinished = ledger.unfinished_batches(conn)
    adopted = 0
    for batch, before in unfinished:
        rows = history.views_after(database, before or 0)
        with engine.connect() as conn:
            desired = ledger.desired_plays(conn, list(accounts))
            applied = ledger.applied(conn)
            known = ledger.in_plex(conn)
        candidates = diff(desired, accounts, applied, known).candidates
        waiting: dict[tuple[int, int, int], list[int]] = {}
        for sid, account, key, uts in zip(candidates["scrobble_id"], candidates["account_id"],
                                          candidates["rating_key"], candidates["uts"],
                                          strict=True):
            waiting.setdefault((int(account), int(key), int(uts)), []).append(int(sid))
        adopt: list[ledger.Written] = []
        for view_id, account, key, viewed_at, guid in rows:
            ids = waiting.get((account, key, viewed_at))
            if ids:
                adopt.append((ids.pop(0), account, key, view_id, guid, viewed_at))
        with write(engine) as conn:
            ledger.record_applied(conn, batch, adopt, replace=True)
            ledger.finish_batch(conn, batch, ledger.RECOVERED, added=len(adopt),
                                note="completed after a crash")
        log.warning("apply batch %s was interrupted: adopted %s history rows", batch, len(adopt))
        adopted += len(adopt)
    return adopted


def reconcile(engine: Engine, database: Path, source: str) -> dict[str, int]:
    """Forget what Plex's database no longer holds (see the module doc); `source` names the
    command that checks ("apply", "revert", "restore"). Returns forgotten and natives_gone."""
    gone, natives_gone = history.ledger_mismatches(
        database, _readable(engine), ledger.written_rows_sql(history.LEDGER),
        ledger.in_plex_sql(history.LEDGER))
    with write(engine) as conn:
        ledger.forget_applied(conn, gone)
        ledger.forget_in_plex(conn, natives_gone)
        present = ledger.record_check(conn, source, forgotten=len(gone),
                                      natives_gone=len(natives_gone))
    if gone or natives_gone:
        log.warning("Plex's database no longer holds %s plays plexfm wrote and %s native plays "
                    "it had counted (was it restored or repaired?): forgotten, so the next "
                    "apply writes them again; %s plays of plexfm's are in Plex",
                    len(gone), len(natives_gone), present)
    return {"forgotten": len(gone), "natives_gone": len(natives_gone)}


def _readable(engine: Engine) -> Path | bytes:
    """How another connection reads the store: its file (whatever URL named it), or the bytes
    of a store that has none (in memory)."""
    with engine.connect() as conn:
        file = next(str(f) for _seq, name, f in conn.exec_driver_sql("PRAGMA database_list")
                    if name == "main")
        if file:
            return Path(file)
        return bytes(conn.connection.driver_connection.serialize())  # type: ignore[union-attr]
