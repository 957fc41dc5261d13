"""The backup written around the page cache with ``O_DIRECT`` (daemon/plex/direct_copy.py,
issue 16), and the cached copy it falls back to where the file system refuses it.

Whether a file's pages are in the page cache is asked of the kernel (``mincore`` over a
mapping of the file), so "around the page cache" is checked, not assumed; the cached copy is
the control that shows the check sees cached pages."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import PlexWriteError
from daemon.plex import backup
from daemon.plex.backup import backup_database
from daemon.plex.direct_copy import ALIGN, copy_uncached
from tests.fakes.plex_db import PlexDb, build_plex_db
from tests.fakes.plex_library_gen import generate_library
from tests.test_plex_backup_file import _add_history, _history, _page_bytes

O_DIRECT = getattr(os, "O_DIRECT", 0)
pytestmark = pytest.mark.skipif(not O_DIRECT, reason="no O_DIRECT on this system")


def _takes_direct(folder: Path) -> bool:
    probe = folder / ".direct-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | O_DIRECT, 0o644)
    except OSError:
        return False
    try:
        os.pwritev(fd, [memoryview(mmap.mmap(-1, ALIGN))], 0)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A folder on a file system that takes O_DIRECT: pytest's, or one beside the tests (when
    /tmp is a tmpfs)."""
    if _takes_direct(tmp_path):
        yield tmp_path
        return
    beside = Path(tempfile.mkdtemp(prefix=".direct-", dir=Path(__file__).resolve().parent))
    try:
        if not _takes_direct(beside):
            pytest.skip("no file system here takes O_DIRECT")
        yield beside
    finally:
        shutil.rmtree(beside)


@pytest.fixture
def db(folder: Path) -> PlexDb:
    return build_plex_db(folder / "plex" / "com.plexapp.plugins.library.db",
                         generate_library(200, seed=11))


def _cached_pages(path: Path) -> int:
    """How many of the file's pages are in the page cache (Linux ``mincore``)."""
    size = path.stat().st_size
    with path.open("rb") as file, mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY) as m:
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = (ctypes.c_ubyte * pages)()
        buffer = ctypes.c_char.from_buffer(m)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.mincore(ctypes.c_void_p(ctypes.addressof(buffer)), ctypes.c_size_t(size),
                            vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del buffer
        return sum(v & 1 for v in vec)


def _evicted(path: Path) -> None:
    """The file's clean pages dropped from the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _spy(monkeypatch: pytest.MonkeyPatch, name: str,
         before: Callable[..., None] = lambda *_a: None) -> list[tuple[Any, ...]]:
    """Calls of ``os.<name>`` recorded (``before`` runs first, and may raise)."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(os, name)

    def spy(*args: Any) -> Any:
        calls.append(args)
        before(*args)
        return real(*args)

    monkeypatch.setattr(os, name, spy)
    return calls


def test_the_copy_leaves_nothing_in_the_page_cache_where_the_cached_one_leaves_it_all(
        folder: Path) -> None:
    source = folder / "source.db"
    source.write_bytes(os.urandom(64 * ALIGN))
    fd = os.open(source, os.O_RDONLY)
    try:
        direct, cached = folder / "direct.db", folder / "cached.db"
        assert copy_uncached(fd, direct, 64 * ALIGN, step=16 * ALIGN)
        os.copy_file_range(fd, os.open(cached, os.O_WRONLY | os.O_CREAT, 0o644), 64 * ALIGN,
                           0, 0)
    finally:
        os.close(fd)
    assert direct.read_bytes() == cached.read_bytes() == source.read_bytes()
    assert _cached_pages(cached) > 0  # the check sees cached pages ...
    _evicted(direct)  # (read_bytes above cached it)
    assert _cached_pages(direct) == 0  # ... (and evicted ones are gone)


def test_the_direct_copy_itself_caches_nothing(folder: Path) -> None:
    source = folder / "source.db"
    source.write_bytes(os.urandom(40 * ALIGN))
    dest = folder / "copy.db"
    fd = os.open(source, os.O_RDONLY)
    try:
        assert copy_uncached(fd, dest, 40 * ALIGN, step=8 * ALIGN)
    finally:
        os.close(fd)
    assert _cached_pages(dest) == 0
    assert dest.read_bytes() == source.read_bytes()


def test_an_unaligned_end_is_written_through_the_cache(folder: Path) -> None:
    """(A database whose page size is below 4096 can end between two blocks.)"""
    length = 5 * ALIGN + 1000
    source = folder / "source.db"
    source.write_bytes(os.urandom(length + 3000))  # a longer file: only `length` is copied
    dest = folder / "copy.db"
    fd = os.open(source, os.O_RDONLY)
    try:
        assert copy_uncached(fd, dest, length, step=2 * ALIGN)
    finally:
        os.close(fd)
    assert _cached_pages(dest) == 1  # the end only
    assert dest.read_bytes() == source.read_bytes()[:length]


def test_the_backup_is_written_direct_and_is_the_file(
        db: PlexDb, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _spy(monkeypatch, "open")
    kernel = _spy(monkeypatch, "copy_file_range")
    made = backup_database(db.path, folder / "backups", keep=2, busy_timeout_ms=2000)
    assert any(str(args[0]).endswith(".partial") and args[1] & O_DIRECT for args in opened)
    assert kernel == []
    assert made.read_bytes() == _page_bytes(db.path)
    assert _history(made) == _history(db.path)


def test_commits_during_the_direct_copy_are_not_in_the_backup(
        db: PlexDb, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plex writing while a stand-alone backup copies: its commits stay in the WAL."""
    monkeypatch.setattr(backup, "WRITEBACK_PAGES", 4)
    snapshot, history = _page_bytes(db.path), _history(db.path)

    def plex_writes(*_args: Any) -> None:
        if len(reads) == 2:
            with closing(sqlite3.connect(db.path, isolation_level=None)) as plex:
                _add_history(plex, 300)
                plex.execute("PRAGMA wal_checkpoint(PASSIVE)")

    reads = _spy(monkeypatch, "preadv", plex_writes)
    made = backup_database(db.path, folder / "backups", keep=2, busy_timeout_ms=2000)
    assert len(reads) > 2
    assert made.read_bytes() == snapshot
    assert _history(made) == history
    with closing(sqlite3.connect(db.path)) as conn:  # (committed, after the backup's read)
        assert conn.execute("SELECT count(*) FROM metadata_item_views").fetchone()[0] \
            == history + 300


def _refused(*args: Any) -> None:
    raise OSError(errno.EINVAL, "Invalid argument")


@pytest.mark.parametrize("where", ["open", "first write"])
def test_a_file_system_that_refuses_o_direct_gets_the_cached_copy(
        db: PlexDb, folder: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    if where == "open":
        _spy(monkeypatch, "open", lambda path, flags, *_a: _refused() if flags & O_DIRECT
             else None)
    else:
        _spy(monkeypatch, "pwritev", _refused)
    kernel = _spy(monkeypatch, "copy_file_range")
    made = backup_database(db.path, folder / "backups", keep=2, busy_timeout_ms=2000)
    assert kernel, "the cached copy was not made"
    assert made.read_bytes() == _page_bytes(db.path)


@pytest.mark.parametrize(("code", "message"), [(errno.ENOSPC, "No space left"),
                                               (errno.EINVAL, "Invalid argument")])
def test_a_failed_direct_write_fails_the_backup_and_leaves_nothing(
        db: PlexDb, folder: Path, monkeypatch: pytest.MonkeyPatch, code: int,
        message: str) -> None:
    """A write failing after the first (EINVAL too: O_DIRECT was taken, then refused)."""
    monkeypatch.setattr(backup, "WRITEBACK_PAGES", 4)

    def fails_later(*_args: Any) -> None:
        if len(writes) == 3:
            raise OSError(code, os.strerror(code))

    writes = _spy(monkeypatch, "pwritev", fails_later)
    with pytest.raises(PlexWriteError, match=f"could not be written: .*{message}"):
        backup_database(db.path, folder / "backups", keep=2, busy_timeout_ms=2000)
    assert list((folder / "backups").iterdir()) == []


def test_a_failed_fsync_after_the_direct_copy_fails_the_backup_and_leaves_nothing(
        db: PlexDb, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(The bytes reached the device, but the device's cache and the file's size are made
    durable by the fsync only.)"""
    def broken(*_args: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    _spy(monkeypatch, "fsync", broken)
    with pytest.raises(PlexWriteError, match=r"could not be written: .*Input/output error"):
        backup_database(db.path, folder / "backups", keep=2, busy_timeout_ms=2000)
    assert list((folder / "backups").iterdir()) == []
