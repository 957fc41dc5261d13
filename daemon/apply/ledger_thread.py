"""The ledger rows of one Plex write, prepared while Plex's transaction runs, committed after it.

Plex's transaction is made of long SQLite statements that release the GIL; the ledger's own
B-tree work (1M rows written: 2-3 s; 100k forgotten: 0.5 s with the commit) is done meanwhile
on a second thread, in a store transaction that stays open until it is told: `plex_committed`
(called by the writer as soon as Plex's COMMIT returned, so the store commits while Plex's WAL
is checkpointed; it commits only when Plex did exactly what the rows assume: every history row
to remove was removed, and the new rows got the ids announced) or `abandon` (rolled back:
Plex failed, or did otherwise, and the job writes the ledger itself from what Plex reports).
So the ledger is never committed before Plex's write, exactly as when written afterwards.

The thread starts with the transaction and waits. The rows being removed are forgotten when
the writer says only its COMMIT is left (`committing`), which writes and syncs rather than
computes: before, the writer binds the rows to remove in Python (two threads binding take
turns at the GIL) and recounts the settings in SQLite, which needs the CPU as much (the
bench's revert: the forget 0.27 s beside the COMMIT, 0.40 s beside the settings; median of
six alternating runs 3.64 s against 3.79 s when forgotten after the delete, itself 0.17 s
faster than at once). If there are new rows, they are forgotten first when the ids of the new
rows come (a moved play is forgotten, then written again under its new track), and a writer
that never calls `committing` only delays the forgetting: it is done before the commit.
The ids of the new rows are predictable: inside the Plex transaction, just before
the insert, the writer says which id the first row will get (`PlexDatabaseWriter.apply(
staged=...)`), and the rows get consecutive ids in history order
(`PlayColumns.history_order`), which the writer verifies.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from daemon.plex.plays import InsertedIds, PlayColumns, WriteResult
from daemon.store import ledger, ledger_bulk, plan_scope
from daemon.store.engine import bulk_cache, write

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

Finish = Callable[[Connection], None]


class _Committing:
    """The message `LedgerThread.committing` sends."""


_COMMITTING = _Committing()
_Message = tuple["npt.NDArray[np.int64]", dict[int, str]] | Finish | _Committing | None


class LedgerThread:
    """Forgets `forget` (scrobble ids, whose history rows `removing` Plex is deleting) and
    records `plays`' rows for `batch` once `staged` is called, on a thread."""

    def __init__(self, engine: Engine, batch: int, account: int, plays: PlayColumns, *,
                 forget: Sequence[int] = (), removing: Collection[int] = (),
                 summing: bool = True) -> None:
        self._engine, self._batch, self._account, self._plays = engine, batch, account, plays
        self._forget, self._removing, self._summing = list(forget), set(removing), summing
        self._messages: queue.Queue[_Message] = queue.Queue()
        self._ids: npt.NDArray[np.int64] | None = None
        self.error: BaseException | None = None
        self._finishing = False  # `finish` was sent: the thread commits
        self._forgotten = False
        self.summed: str | None = None
        """What the ledger sums to once this transaction commits (`plan_scope`), worked out
        while Plex's transaction runs (with `summing`: when the apply will save a basis)."""
        self._thread = threading.Thread(target=self._run, name="plexfm-ledger", daemon=True)
        self._thread.start()

    def committing(self) -> None:
        """The writer's hook: only Plex's COMMIT is left, forget the removed rows now."""
        self._messages.put(_COMMITTING)

    def staged(self, first: int, guids: dict[int, str]) -> None:
        """The writer's hook: the first id and the guids are known, write the new rows."""
        import numpy as np

        order = self._plays.history_order()  # the writer's order
        ids = np.empty(len(order), dtype=np.int64)
        ids[order] = np.arange(first, first + len(order), dtype=np.int64)
        self._ids = ids
        self._messages.put((ids, dict(guids)))

    def _run(self) -> None:
        try:
            with write(self._engine) as conn, bulk_cache(conn):
                while True:
                    message = self._messages.get()
                    if message is None:
                        raise _AbandonedError
                    self._forget_once(conn)  # first: a moved play is forgotten, then
                    if isinstance(message, _Committing):  # written again under its new track
                        continue
                    if isinstance(message, tuple):
                        plays = self._plays
                        ledger_bulk.record_written(conn, self._batch, self._account, (
                            plays.keys, plays.rating_keys, message[0], plays.viewed_at),
                            message[1])
                        self._sum(conn)
                        continue
                    message(conn)
                    break
        except _AbandonedError:
            pass
        except BaseException as exc:  # reported to the job, which writes the rows itself
            self.error = exc

    def _forget_once(self, conn: Connection) -> None:
        if not self._forgotten:
            self._forgotten = True
            ledger.forget_applied(conn, self._forget)
            if not len(self._plays):
                self._sum(conn)

    def _sum(self, conn: Connection) -> None:
        if self._summing:
            self.summed = plan_scope.ledger_sum(conn)

    def plex_committed(self, result: WriteResult, finish: Finish) -> None:
        """Plex committed `result`: if Plex did what the rows assume, the thread runs `finish`
        in the same store transaction and commits it (while Plex's WAL is checkpointed);
        else the transaction is rolled back. `committed` says which."""
        inserted, keys = result.inserted, self._plays.keys
        if set(result.deleted) != self._removing:
            log.info("Plex removed other history rows than planned; ledger written again")
            self.abandon()
            return
        if len(keys) and not (self._ids is not None and isinstance(inserted, InsertedIds)
                              and len(inserted) == len(keys)
                              and bool((inserted.lookup(keys) == self._ids).all())):
            log.warning("the history ids differ from those announced; ledger written again")
            self.abandon()
            return
        self._finishing = True
        self._messages.put(finish)

    def committed(self) -> bool:
        """Wait for the store commit `plex_committed` started. False: nothing of this
        transaction was committed (the job must write the ledger itself)."""
        if not self._finishing:
            self.abandon()
            return False
        self._thread.join()
        if self.error is not None:
            log.warning("writing the ledger alongside Plex failed (%s); written again",
                        self.error)
            return False
        return True

    def abandon(self) -> None:
        """Roll the thread's store transaction back (Plex's write failed, or did otherwise)."""
        if self._thread.is_alive():
            self._messages.put(None)
            self._thread.join()


class _AbandonedError(Exception):
    """Raised inside the thread's transaction to roll it back."""
