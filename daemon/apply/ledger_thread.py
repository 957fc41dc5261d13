"""The ledger rows of one Plex write, prepared while Plex's transaction runs, committed after it.

Plex's insert of a large batch is one long SQLite statement that releases the GIL; the 1M
ledger rows (2-3 s of B-tree work in the store) are written meanwhile on a second thread, in
a store transaction that stays open until the job decides: `commit` (after Plex committed, and
only when the ids the writer verified are the ids the rows were written with) or `abandon`
(rolled back: Plex failed, or the ids differ, and the job writes the rows itself). So the
ledger is never committed before Plex's write, exactly as when written afterwards.

The ids are predictable: inside the Plex transaction, just before the insert, the writer says
which id the first row will get (`PlexDatabaseWriter.apply(staged=...)`), and the rows get
consecutive ids in (viewed_at, key) order, which the writer verifies.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from daemon.plex.plays import InsertedIds, PlayColumns
from daemon.store import ledger_bulk
from daemon.store.engine import bulk_cache, write

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

Finish = Callable[[Connection], None]


class LedgerThread:
    """Writes `plays`' ledger rows for `batch` on a thread once `staged` is called."""

    def __init__(self, engine: Engine, batch: int, account: int, plays: PlayColumns) -> None:
        self._engine, self._batch, self._account, self._plays = engine, batch, account, plays
        self._decision: queue.Queue[Finish | None] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._ids: npt.NDArray[np.int64] | None = None
        self.error: BaseException | None = None

    def staged(self, first: int, guids: dict[int, str]) -> None:
        """The writer's hook: the first id and the guids are known, start writing."""
        import numpy as np

        order = np.lexsort((self._plays.keys, self._plays.viewed_at))  # the writer's order
        ids = np.empty(len(order), dtype=np.int64)
        ids[order] = np.arange(first, first + len(order), dtype=np.int64)
        self._ids = ids
        self._thread = threading.Thread(target=self._run, args=(ids, dict(guids)),
                                        name="plexfm-ledger", daemon=True)
        self._thread.start()

    def _run(self, ids: npt.NDArray[np.int64], guids: dict[int, str]) -> None:
        try:
            with write(self._engine) as conn, bulk_cache(conn):
                plays = self._plays
                ledger_bulk.record_written(conn, self._batch, self._account, (
                    plays.keys, plays.rating_keys, ids, plays.viewed_at), guids)
                finish = self._decision.get()
                if finish is None:
                    raise _AbandonedError
                finish(conn)
        except _AbandonedError:
            pass
        except BaseException as exc:  # reported to the job, which writes the rows itself
            self.error = exc

    def commit(self, result: InsertedIds, finish: Finish) -> bool:
        """After Plex's commit: run `finish` in the same store transaction and commit it, if the
        rows were written with the ids `result` holds. False: nothing of it was committed
        (the job must write the rows itself)."""
        if self._thread is None or self._ids is None:
            return False
        if not (len(result) == len(self._ids) and
                bool((result.lookup(self._plays.keys) == self._ids).all())):
            log.warning("the history ids differ from those announced; ledger written again")
            self.abandon()
            return False
        self._decision.put(finish)
        self._thread.join()
        if self.error is not None:
            log.warning("writing the ledger alongside Plex failed (%s); written again",
                        self.error)
            return False
        return True

    def abandon(self) -> None:
        """Roll the thread's store transaction back (Plex's write failed, or ids differ)."""
        if self._thread is not None and self._thread.is_alive():
            self._decision.put(None)
            self._thread.join()


class _AbandonedError(Exception):
    """Raised inside the thread's transaction to roll it back."""
