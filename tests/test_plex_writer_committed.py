"""The writer's `committed` hook (issue 16): called once Plex's COMMIT returned and before the
WAL checkpoint, so the caller's own commit overlaps the checkpoint; never on a dry run or a
failed write; its errors never turn a committed write into a failure. And a removal-only write
reads no track metadata (SQLite scanned every track for an empty play list)."""

from __future__ import annotations

import logging
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import PlexWriteError
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter, WriteResult
from tests.fakes.plex_db import PlexDb, build_plex_db
from tests.fakes.plex_library_gen import generate_library

NOW = 1_760_000_000


@pytest.fixture
def db(tmp_path: Path) -> PlexDb:
    return build_plex_db(tmp_path / "plex" / "com.plexapp.plugins.library.db",
                         generate_library(60, seed=5))


def _plays(db: PlexDb, n: int = 50) -> list[PlayToWrite]:
    rng = random.Random(2)
    ids = [t.id for t in db.library.tracks]
    return [PlayToWrite(k, rng.choice(ids), rng.randrange(1_300_000_000, NOW)) for k in range(n)]


def _ours(path: Path) -> int:
    conn = sqlite3.connect(path)  # another connection: sees only what was committed
    try:
        return int(conn.execute("SELECT count(*) FROM metadata_item_views WHERE id > 0 "
                                "AND device_id IS NULL AND thumb_url IS NULL").fetchone()[0])
    finally:
        conn.close()


def _wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_committed_runs_after_the_commit_and_before_the_checkpoint(db: PlexDb) -> None:
    before = _ours(db.path)
    seen: list[tuple[int, int, WriteResult]] = []
    writer = PlexDatabaseWriter(db.path, clock=lambda: NOW)
    result = writer.apply(_plays(db), [], backup_dir=None,
                          committed=lambda r: seen.append((_ours(db.path), _wal(db.path), r)))
    assert len(seen) == 1
    visible, wal, given = seen[0]
    assert given is result
    assert visible == before + len(result.inserted), "called before Plex's COMMIT"
    assert wal > 0, "called after the checkpoint"
    assert _wal(db.path) == 0  # then checkpointed (TRUNCATE)

    seen.clear()
    removed = writer.apply([], result.removable(_plays(db)), backup_dir=None,
                           committed=lambda r: seen.append((_ours(db.path), _wal(db.path), r)))
    assert [s[0] for s in seen] == [before]
    assert seen[0][2] is removed


def test_a_large_write_is_checkpointed_after_committed_not_inside_the_commit(
        tmp_path: Path) -> None:
    """SQLite checkpoints inside a COMMIT of more than 1,000 WAL pages unless told not to:
    the hook (the ledger's commit) would then wait for the whole copy into the database."""
    big = build_plex_db(tmp_path / "big" / "com.plexapp.plugins.library.db",
                        generate_library(400, seed=9))
    file_before = big.path.read_bytes()
    seen: list[tuple[bool, int]] = []
    writer = PlexDatabaseWriter(big.path, clock=lambda: NOW)
    result = writer.apply(_plays(big, 40_000), [], backup_dir=None, committed=lambda r: seen.append(
        (big.path.read_bytes() == file_before, _wal(big.path))))
    assert len(result.inserted) == 40_000
    untouched, wal = seen[0]
    assert wal > 1000 * 4096, "too small a write to show it"
    assert untouched, "the database file was written before the hook: checkpointed in COMMIT"
    assert _wal(big.path) == 0
    assert big.path.read_bytes() != file_before


def test_committed_is_not_called_for_a_dry_run_or_a_failed_write(db: PlexDb) -> None:
    calls: list[WriteResult] = []
    writer = PlexDatabaseWriter(db.path, clock=lambda: NOW)
    writer.apply(_plays(db), [], backup_dir=None, dry_run=True, committed=calls.append)
    with pytest.raises(PlexWriteError, match="not tracks"):
        writer.apply([PlayToWrite(1, 999_999, NOW)], [], backup_dir=None,
                     committed=calls.append)

    def fail(first: int, guids: dict[int, str]) -> None:
        raise PlexWriteError("disk full")

    with pytest.raises(PlexWriteError, match="disk full"):
        writer.apply(_plays(db), [], backup_dir=None, staged=fail, committed=calls.append)
    assert calls == []


def test_an_error_in_committed_leaves_the_write_done(
        db: PlexDb, caplog: pytest.LogCaptureFixture) -> None:
    before = _ours(db.path)

    def broken(result: WriteResult) -> None:
        raise RuntimeError("the caller's store is gone")

    with caplog.at_level(logging.ERROR, logger="daemon.plex.writer"):
        result = PlexDatabaseWriter(db.path, clock=lambda: NOW).apply(
            _plays(db), [], backup_dir=None, committed=broken)
    assert _ours(db.path) == before + len(result.inserted) == before + len(_plays(db))
    assert _wal(db.path) == 0  # the checkpoint still ran
    assert "the caller's step failed" in caplog.text


def test_a_removal_only_write_reads_no_track_rows(db: PlexDb) -> None:
    statements: list[str] = []

    class Traced(PlexDatabaseWriter):
        def _open(self, *, writable: bool = False) -> sqlite3.Connection:
            conn = super()._open(writable=writable)
            if writable:
                conn.set_trace_callback(statements.append)
            return conn

    writer = Traced(db.path, clock=lambda: NOW)
    applied = writer.apply(_plays(db), [], backup_dir=None)
    assert any("metadata_items" in s for s in statements)  # the insert resolves its tracks
    statements.clear()
    removed = writer.apply([], applied.removable(_plays(db)), backup_dir=None)
    assert len(removed.deleted) == len(_plays(db))
    read: list[Any] = [s for s in statements if "main.metadata_items" in s]
    assert read == []
