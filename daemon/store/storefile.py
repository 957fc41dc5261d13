"""The store's file on disk: its identity (device + inode), checked before every use.

A store file deleted or replaced while plexfm runs must not be used any further: the open
connections would keep writing into the unlinked file (gone at exit, with the ledger that lets
plexfm revert what it wrote to Plex), and a new connection would open the replacement, or create
an empty store. So the engine checks the file before every connection it hands out (one stat),
connects with SQLite's `mode=rw` (a missing file is an error, never a new store), and once the
file is found gone the engine refuses every use until plexfm restarts. On that first refusal, the
still-open connection to the old file copies it next to the path (`<name>.rescued-<time>`), so
nothing written before is lost.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from daemon.errors import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileIdentity:
    """What names one file on a machine, whatever its path."""

    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        found = os.stat(path)
        return cls(found.st_dev, found.st_ino)


class StoreFile:
    """The store file an engine was opened on; `check()` refuses it once deleted or replaced."""

    def __init__(self, path: Path, identity: FileIdentity | None = None, *,
                 rescue: bool = True) -> None:
        self.path = path
        self.identity = identity or FileIdentity.of(path)
        self.rescue = rescue  # a worker process leaves the rescue to its service
        self.rescued: Path | None = None
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._advice = ""
        self._rescue_tried = False

    @property
    def uri(self) -> str:
        """The SQLite URI that opens this file read-write and never creates it."""
        return f"file:{quote(str(self.path))}?mode=rw"

    def problem(self) -> str | None:
        """Why the file must not be used, or None. Sticky: a deleted file's inode number can be
        reused by the next file created at the same path."""
        if self._problem is not None:
            return self._problem
        try:
            found: FileIdentity | None = FileIdentity.of(self.path)
        except FileNotFoundError:
            found = None
        except OSError as exc:  # not proof the file is gone: refuse this use only
            return f"the store file {self.path} cannot be checked: {exc.strerror}"
        if found == self.identity:
            return None
        what = "was deleted" if found is None else "was replaced by another file"
        with self._lock:
            if self._problem is None:
                self._advice = ("stop plexfm, put the file back (the saved copy or a backup) and "
                                "start it again") if found is None else \
                    "restart plexfm to use the new file"
                self._problem = f"the store file {self.path} {what} while plexfm runs"
                log.critical("%s: plexfm writes nothing more until it is restarted",
                             self._problem)
        return self._problem

    def check(self, connection: sqlite3.Connection | None = None) -> None:
        """Raise StoreError when the file was deleted or replaced. `connection`: one still open
        on the original file, used (once) to save a copy of it."""
        problem = self.problem()
        if problem is None:
            return
        if connection is not None and self._problem is not None and self.rescue:
            self._rescue(connection)
        saved = f"; its last contents were saved to {self.rescued}" if self.rescued else ""
        advice = f": {self._advice}" if self._problem is not None else ""
        raise StoreError(f"{problem}{saved}{advice}")

    def _rescue(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if self._rescue_tried:
                return
            self._rescue_tried = True
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            target = self.path.with_name(f"{self.path.name}.rescued-{stamp}")
            if target.exists():  # never into another file
                target = self.path.with_name(f"{target.name}-{os.getpid()}")
            try:
                copy = sqlite3.connect(target)
                try:
                    connection.backup(copy)
                    copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                finally:
                    copy.close()
            except (sqlite3.Error, OSError) as exc:
                log.error("could not save the contents of the store file %s to %s: %s",
                          self.path, target, exc)
                return
            self.rescued = target
        log.critical("the contents of the store file %s were saved to %s", self.path, target)
