"""The apply's backup of Plex's database, taken beside the write when SQLite allows it.

The backup must be the state the write starts from, and durable before the write commits
(DESIGN Invariant 1). In WAL mode, Plex's own, a second connection reads the last committed
state however many rows the open write transaction has put in meanwhile: those are not
committed, and nobody else can commit while the writer holds the write lock. So the copy (and
its check and fsync, which wait on the disk) runs on a thread while the rows go in, and the
writer asks for `result` before its COMMIT: a failed backup raises there and the write is
rolled back. In the other journal modes a reader could be blocked by the writer's spilled
pages, so the backup is taken first, before anything is written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path


class BackupBeside:
    """Runs `take` on a thread (`beside`) or at once; `result` waits and returns its path."""

    def __init__(self, take: Callable[[], Path], *, beside: bool) -> None:
        self._take = take
        self._path: Path | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if beside:
            self._thread = threading.Thread(target=self._run, name="plexfm-backup", daemon=True)
            self._thread.start()
        else:
            self._path = take()

    def _run(self) -> None:
        try:
            self._path = self._take()
        except BaseException as exc:  # raised again in the writer's thread, by `result`
            self._error = exc

    def finish(self) -> None:
        """Wait for the thread (after the write failed: its own error is the one to report;
        a backup that completed is kept, it is the state the rollback leaves)."""
        if self._thread is not None:
            self._thread.join()

    def result(self) -> Path:
        """The backup's path once it is durable; its error, if it failed."""
        self.finish()
        if self._error is not None:
            raise self._error
        if self._path is None:
            raise RuntimeError("the backup neither finished nor failed")
        return self._path
