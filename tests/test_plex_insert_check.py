"""The check of the history rows an apply inserted: the ids the ledger records are theirs.

The writer announces ids first..first+n-1 in history order (by track, then time, then key:
`PlayColumns.history_order`) and verifies them before COMMIT. A database whose triggers add or
change history rows during the insert (a future Plex, a hand-made trigger) breaks that promise:
the whole write must be refused and rolled back.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from daemon.errors import PlexWriteError
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter
from tests.fakes.plex_db import PlexDb, build_plex_db
from tests.fakes.plex_library_gen import Library, generate_library

NOW = 1_760_000_000
TRIGGERS = {
    "an extra row": "INSERT INTO metadata_item_views (account_id, guid, metadata_type, viewed_at)"
                    " VALUES (new.account_id, new.guid, new.metadata_type, new.viewed_at)",
    "a changed time": "UPDATE metadata_item_views SET viewed_at = new.viewed_at + 1"
                      " WHERE id = new.id",
    "a changed account": "UPDATE metadata_item_views SET account_id = 77 WHERE id = new.id",
    "a deleted row": "DELETE FROM metadata_item_views WHERE id = new.id",
}


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(80, seed=5)


@pytest.fixture
def db(tmp_path: Path, library: Library) -> PlexDb:
    return build_plex_db(tmp_path / "com.plexapp.plugins.library.db", library)


def _views(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM metadata_item_views ORDER BY id").fetchall()
    finally:
        conn.close()


def _plays(db: PlexDb) -> list[PlayToWrite]:
    keys = [t.id for t in db.library.tracks if t.deleted_at is None][:12]
    return [PlayToWrite(i, key, NOW - 300 * (i % 5)) for i, key in enumerate(keys, 1)]


@pytest.mark.parametrize("what", sorted(TRIGGERS))
def test_history_rows_changed_during_the_insert_refuse_the_write(db: PlexDb,
                                                                  what: str) -> None:
    conn = sqlite3.connect(db.path)
    conn.execute("CREATE TRIGGER plexfm_test_trap AFTER INSERT ON metadata_item_views"
                 " WHEN new.metadata_type = 10 AND new.id % 5 = 3"
                 f" AND new.viewed_at > {NOW - 10_000} BEGIN {TRIGGERS[what]}; END")
    conn.commit()
    conn.close()
    before = _views(db.path)
    with pytest.raises(PlexWriteError, match="did not get consecutive ids"):
        PlexDatabaseWriter(db.path).apply(_plays(db), [], backup_dir=None)
    assert _views(db.path) == before


def test_the_inserted_rows_get_the_announced_ids_by_track_then_time(db: PlexDb) -> None:
    # four tracks played at interleaved times, two plays of one track at the same second: the
    # ids run track by track (ascending rating key), each track's plays in time, then key order
    keys = [t.id for t in db.library.tracks if t.deleted_at is None][:4]
    plays = [PlayToWrite(i, keys[(i * 3) % 4], NOW - 600 * (i % 7)) for i in range(1, 21)]
    plays.append(PlayToWrite(21, plays[0].rating_key, plays[0].viewed_at))
    first = max((r[0] for r in _views(db.path)), default=0) + 1
    result = PlexDatabaseWriter(db.path).apply(plays, [], backup_dir=None)
    ordered = sorted(plays, key=lambda p: (p.rating_key, p.viewed_at, p.key))
    assert [result.inserted[p.key] for p in ordered] == list(range(first, first + len(plays)))
    assert ordered != sorted(plays, key=lambda p: (p.viewed_at, p.key))  # (not time order)
    rows = {r[0]: r for r in _views(db.path) if r[0] >= first}
    guids = result.guids
    assert [(rows[result.inserted[p.key]][2], rows[result.inserted[p.key]][11])
            for p in plays] == [(guids[p.rating_key], p.viewed_at) for p in plays]
