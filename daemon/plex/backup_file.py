"""The backup's copy made by the kernel, when SQLite guarantees the database file holds still.

`daemon.plex.backup` copies Plex's database through SQLite's backup API, which reads it as a
connection sees it, ``-wal`` content included. That copy costs CPU (every page read and
written through two pagers: 0.6-0.8 s for the 600 MB database of a million plays), and in the
apply it runs beside the write, which it slows by as much. When the ``-wal`` file is empty,
though, the database file alone *is* the snapshot, and it cannot change while the backup's read
transaction lasts: a reader whose snapshot ends at WAL frame 0 holds SQLite's read lock 0, and
no checkpoint may write a page into the database file past the end mark of a current reader
(https://sqlite.org/wal.html, "Checkpointing"; `tests/test_plex_backup_file.py` shows it). New
commits meanwhile go to the ``-wal`` file only. So `copy_still_file` copies the file's
``page_count * page_size`` bytes around the page cache (``O_DIRECT``, `daemon.plex.direct_copy`:
0.3-0.45 s for the same 600 MB), or where the file system refuses that, with
``copy_file_range`` (in the kernel: 0.36 s when the cache has free pages, up to 2 s when it
must find them), flushing each step on the writeback thread; the caller checks the copy
exactly as it checks the backup API's. A ``-wal`` with frames (Plex running, a checkpoint held
back by a reader) makes it decline, and the backup API is used.

It is only called inside the backup connection's read transaction, after a read (SQLite takes
the snapshot at the first read, not at ``BEGIN``).
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

from daemon.errors import PlexWriteError
from daemon.plex.direct_copy import copy_uncached
from daemon.plex.writeback import flushed_while_written

log = logging.getLogger(__name__)

# copy_file_range cannot copy between these two files (another file system on an older kernel,
# a file system without it): the same bytes are copied through a buffer instead.
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL,
                             errno.EPERM})


def wal_is_empty(database: Path) -> bool:
    """True when ``database``'s ``-wal`` file is absent or holds no frame (zero bytes)."""
    try:
        return os.stat(f"{database}-wal").st_size == 0
    except FileNotFoundError:
        return True


def copy_still_file(database: Path, dest: Path, *, length: int, step: int) -> bool:
    """Copy the first ``length`` bytes of ``database`` into a new ``dest`` in ``step``-byte
    steps, each flushed on the writeback thread, if its WAL is empty; else False, nothing done.

    Call it only inside a read transaction on ``database`` that has read (see above). A file
    shorter than ``length`` is declined too. A failed copy or flush raises `PlexWriteError`;
    ``dest`` is the caller's to remove then.
    """
    if not wal_is_empty(database):
        log.debug("Plex's WAL holds frames: backing up through SQLite's backup API")
        return False
    src = os.open(database, os.O_RDONLY)
    try:
        if os.fstat(src).st_size < length:
            return False
        try:
            if not copy_uncached(src, dest, length, step):
                _copy_cached(src, dest, length, step)
        except OSError as exc:  # the copy's or a flush's
            raise PlexWriteError(f"backup copy {dest} could not be written: {exc}") from exc
    finally:
        os.close(src)
    return True


def _copy_cached(src: int, dest: Path, length: int, step: int) -> None:
    """Through the page cache (the file system refuses ``O_DIRECT``)."""
    dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with flushed_while_written(dest) as kick:
            _copy(src, dst, length, step, kick)
    finally:
        os.close(dst)


def _copy(src: int, dst: int, length: int, step: int, kick: Callable[[], None]) -> None:
    done = 0
    kernel = hasattr(os, "copy_file_range")
    while done < length:
        want = min(step, length - done)
        if kernel:
            try:
                got = os.copy_file_range(src, dst, want, done, done)
            except OSError as exc:
                if exc.errno not in _NO_KERNEL_COPY:
                    raise
                kernel = False
                continue
        else:
            got = os.pwrite(dst, os.pread(src, want, done), done)
        if got <= 0:
            raise OSError(errno.EIO, f"the database file ended at byte {done} of {length}")
        done += got
        kick()
