"""The apply job with its incremental plan (`daemon.store.plan_scope`, issue 16), end to end
against a fixture Plex database: after an apply, the next plan reads only what can have
changed, and anything that touched the ledger outside an apply makes it read everything."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.apply import job
from daemon.store import matches
from daemon.store.engine import write
from tests.test_apply import T0, TRACKS, applier, history_rows, scrobble, setup, view_count

PLAYS = [scrobble(t, T0 + i * 1000 + n) for i, t in enumerate(TRACKS) for n in range(3)]


@pytest.mark.parametrize("threshold", [job.PARALLEL_LEDGER_MIN, 1])
def test_a_revert_reads_only_the_scrobbles_of_the_unmatched_track(
        tmp_path: Path, engine: Engine, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, threshold: int) -> None:
    """(`threshold` 1: the ledger written by its thread, which also works out what the
    ledger sums to; a wrong sum would make the next plan read the whole history)"""
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", threshold)
    db = setup(tmp_path, engine, PLAYS)
    run = applier(engine, db, tmp_path)
    assert run.run(force_window=True)["added"] == len(PLAYS)
    with write(engine) as conn:
        track_id = matches.find_track(conn, *scrobble(TRACKS[0], 0)[1:4])
        assert track_id is not None
        matches.requeue(conn, track_id, "test: wrong match")
    caplog.set_level(logging.DEBUG, logger="daemon.apply.incremental")
    counts = run.run(force_window=True)
    assert (counts["added"], counts["removed"]) == (0, 3)
    assert "the plan reads 3 scrobbles" in caplog.text
    assert view_count(db, TRACKS[0]) == 0
    assert all(view_count(db, t) == 3 for t in TRACKS[1:])
    for read in (3, 0):  # the reverted ones are looked at once more, then settled
        caplog.clear()
        again = run.run(force_window=True)
        assert (again["added"], again["removed"]) == (0, 0)
        assert f"the plan reads {read} scrobbles" in caplog.text


def test_a_play_deleted_in_plex_is_found_by_reading_the_whole_history(
        tmp_path: Path, engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """The ledger's reconciliation forgets the row the user deleted: the ledger no longer
    sums to what it did after the apply, so the plan reads every scrobble (and writes the
    play again, as it always has: plexfm's own ledger lost it, the scrobble is still there)."""
    db = setup(tmp_path, engine, PLAYS)
    run = applier(engine, db, tmp_path)
    run.run(force_window=True)
    plex = sqlite3.connect(db)
    with plex:
        plex.execute("DELETE FROM metadata_item_views WHERE id = (SELECT max(id) FROM"
                     " metadata_item_views)")
    plex.close()
    caplog.set_level(logging.DEBUG, logger="daemon.apply.incremental")
    counts = run.run(force_window=True)
    assert "the plan reads the whole history" in caplog.text
    assert (counts["forgotten"], counts["added"], counts["removed"]) == (1, 1, 0)
    assert sum(history_rows(db, t) for t in TRACKS) == len(PLAYS)
