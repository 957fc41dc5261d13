"""The apply's plan, computed while the ledger is reconciled with Plex's database.

Both read for a few hundred milliseconds at 1M plays (`recovery.reconcile` Plex's history and
the ledger, inside SQLite; the plan the store), each mostly inside SQLite, which releases the
GIL: they run side by side. The plan assumes the ledger the reconciliation leaves. Almost
always it leaves it as it was (it only records that it checked); when it forgot rows (Plex's
database was restored or repaired) or "already in Plex" records, the plan is made again on
the reconciled ledger, so no plan ever rests on rows Plex no longer holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine

from daemon.apply.recovery import reconcile
from daemon.store.engine import per_thread_database

T = TypeVar("T")
log = logging.getLogger(__name__)


def reconciled_plan(engine: Engine, database: Path | None, source: str,
                    plan: Callable[[], T]) -> tuple[dict[str, int], T]:
    """(the reconciliation's counts, `plan()` as of the reconciled ledger); `database` None:
    nothing to reconcile with (api mode). An in-memory store (a database per thread) runs
    both in this thread, one after the other."""
    if database is None:
        return {}, plan()
    if per_thread_database(engine):
        checked = reconcile(engine, database, source)
        return checked, plan()
    outcome: dict[str, int] = {}
    failure: list[BaseException] = []

    def check() -> None:
        try:
            outcome.update(reconcile(engine, database, source))
        except BaseException as exc:  # raised again in the job's thread
            failure.append(exc)

    thread = threading.Thread(target=check, name="plexfm-reconcile", daemon=True)
    thread.start()
    try:
        planned = plan()
    except BaseException:
        thread.join()
        if failure:  # the plan's error is raised; the check's must not vanish
            log.warning("checking the ledger against Plex's database failed too: %s",
                        failure[0])
        raise
    thread.join()
    if failure:
        raise failure[0]
    if outcome.get("forgotten") or outcome.get("natives_gone"):
        planned = plan()  # the ledger changed under the first plan
    return outcome, planned
