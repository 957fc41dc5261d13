"""A play whose ledger row cannot be removed (no fingerprint: rows from before plexfm kept
them) and whose match moves to another track. Writing it under the new track failed after
Plex's commit (the ledger's key was still taken by the old row: IntegrityError, the run an
error, repaired only by the next run's crash recovery), and would have left the play in Plex
twice. It is held back, reported, and written once the old row is gone."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.store import matches
from daemon.store.engine import write
from tests.test_apply import T0, TRACKS, applier, history_rows, scrobble, setup, view_count


def test_a_moved_play_whose_old_row_is_unremovable_waits_for_it_to_go(
        tmp_path: Path, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    first, second = TRACKS[0], TRACKS[1]
    db = setup(tmp_path, engine, [scrobble(first, T0), scrobble(TRACKS[2], T0 + 9)])
    run = applier(engine, db, tmp_path)
    run.run(force_window=True)
    with write(engine) as conn:
        conn.exec_driver_sql("UPDATE applied_plays SET guid = NULL")  # fingerprints unknown
        track_id = matches.find_track(conn, *scrobble(first, 0)[1:4])
        assert track_id is not None
        matches.decide(conn, track_id, matches.MANUAL, second.id)
    caplog.set_level(logging.WARNING, logger="daemon.apply.plan_columns")
    counts = run.run(force_window=True)
    assert (counts["added"], counts["removed"], counts["unremovable"]) == (0, 0, 1)
    assert "1 plays not written under their new track" in caplog.text
    assert (view_count(db, first), view_count(db, second)) == (1, 0)  # once, not twice
    plex = sqlite3.connect(db)  # the user removes the old row by hand
    with plex:
        plex.execute("DELETE FROM metadata_item_views WHERE guid = (SELECT guid FROM"
                     " metadata_items WHERE id = ?)", (first.id,))
        plex.execute("UPDATE metadata_item_settings SET view_count = 0 WHERE guid = (SELECT"
                     " guid FROM metadata_items WHERE id = ?)", (first.id,))
    plex.close()
    counts = run.run(force_window=True)
    assert (counts["forgotten"], counts["added"], counts["unremovable"]) == (1, 1, 0)
    assert (history_rows(db, first), view_count(db, second), history_rows(db, second)) == \
        (0, 1, 1)
    assert view_count(db, TRACKS[2]) == 1
