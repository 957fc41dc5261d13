"""`apply.mode: api`: each new play marked played through Plex's HTTP API (its count goes up,
no backdated history row), recorded in the ledger as it goes."""

from __future__ import annotations

from sqlalchemy import Engine

from daemon.apply.plan import Columns, rows
from daemon.errors import PlexWriteError
from daemon.plex.server import PlexServerProbe
from daemon.stopping import StopToken
from daemon.store import ledger
from daemon.store.engine import write


def mark_played(engine: Engine, probe: PlexServerProbe | None, stop: StopToken,
                plays: Columns) -> int:
    """Mark each play; the ledger records those marked, also when a stop or an error ends the
    run early. Returns how many were marked."""
    if probe is None:
        raise PlexWriteError("apply.mode api needs plex.url and plex.token")
    with write(engine) as conn:
        batch = ledger.start_batch(conn, "api", None)
    marked: list[ledger.Written] = []
    try:
        for scrobble_id, account, key, _uts in rows(plays):
            stop.check()
            probe.mark_played(key)
            marked.append((scrobble_id, account, key, None, None, None))
    finally:
        with write(engine) as conn:
            ledger.record_applied(conn, batch, marked)
            ledger.finish_batch(conn, batch, ledger.DONE, added=len(marked),
                                note="api mode: counts only, no history rows")
    return len(marked)
