"""Trust (issue 10): a Plex database rolled back under plexfm, plays outside the time bound.

Every scenario runs against real SQLite fixture databases carrying Plex's ICU/FTS traps. The
rollback scenarios follow the reported repro: apply, restore a backup (through plexfm or behind
its back), Plex records plays that reuse the history ids plexfm wrote (the restore put back the
AUTOINCREMENT sequence), then apply and revert must neither delete Plex's plays nor believe in
rows that are gone.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.plex.backup import restore_backup
from daemon.scrobble import MAX_AHEAD_SECONDS
from daemon.store import ledger
from daemon.store.engine import create_store_engine, open_store, write
from daemon.store.migrations import migrate
from daemon.store.status import collect_status, format_status
from tests.fakes.plex_library_gen import Track
from tests.test_apply import (
    T0,
    TRACKS,
    applier,
    dump,
    history_rows,
    scrobble,
    setup,
    view_count,
)

NOW = datetime(2026, 11, 21, 4, 30).astimezone()
# a restore (by plexfm or behind its back) or a repair tool rewriting rows under plexfm
ROLLED_BACK = pytest.mark.reliability("fault",
                                      "Plex database rolled back or rewritten under plexfm")


def plex_records(db: Path, plays: list[tuple[Track, int]], account: int = 1) -> list[int]:
    """What Plex itself does when someone plays tracks: a history row each, counts raised.
    Returns the new history ids."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        ids = []
        for track, at in plays:
            ids.append(int(conn.execute(
                "INSERT INTO metadata_item_views (account_id, guid, metadata_type, "
                "library_section_id, title, viewed_at, device_id) VALUES (?, ?, 10, 1, ?, ?, 1)",
                (account, track.guid, track.title, at)).lastrowid or 0))
            if not conn.execute("UPDATE metadata_item_settings SET view_count = view_count + 1, "
                                "last_viewed_at = max(last_viewed_at, ?) WHERE account_id = ? "
                                "AND guid = ?", (at, account, track.guid)).rowcount:
                conn.execute("INSERT INTO metadata_item_settings (account_id, guid, view_count,"
                             " last_viewed_at, created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?)",
                             (account, track.guid, at, at, at))
    finally:
        conn.close()
    return ids


def native_rows(db: Path, ids: list[int]) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        marks = ", ".join("?" for _ in ids)
        return conn.execute(f"SELECT * FROM metadata_item_views WHERE id IN ({marks}) "
                            "ORDER BY id", ids).fetchall()
    finally:
        conn.close()


def applied_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(ledger.summary(conn)["applied_plays"])


def ledger_view_ids(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return {int(v) for (v,) in conn.exec_driver_sql(
            "SELECT view_id FROM applied_plays WHERE view_id IS NOT NULL")}


# ---- 1. a restored (rolled back) Plex database ---------------------------------------------

@ROLLED_BACK
@pytest.mark.parametrize("how", ["plexfm restore", "behind plexfm's back"])
def test_restore_then_plex_plays_then_revert_keeps_plexs_plays(
    tmp_path: Path, engine: Engine, how: str
) -> None:
    plays = [scrobble(t, T0 + i * 1000) for i, t in enumerate(TRACKS)]
    db = setup(tmp_path, engine, plays)
    pristine = dump(db)
    run = applier(engine, db, tmp_path)
    first = run.run(force_window=True)
    assert first["added"] == len(plays)
    ours_before = ledger_view_ids(engine)
    if how == "plexfm restore":
        restored = run.restore(Path(first["backup"]))
        assert restored["forgotten"] == len(plays)
        assert applied_count(engine) == 0  # reconciled right after restoring
    else:
        restore_backup(Path(first["backup"]), db)  # Plex's own restore, a repair tool...
    assert dump(db) == pristine
    # Plex records 5 plays far from every scrobble: they reuse the ids plexfm had written
    natives = plex_records(db, [(t, T0 + 10**6 + i) for i, t in enumerate(TRACKS[:5])])
    assert set(natives) <= ours_before
    kept = native_rows(db, natives)

    again = run.run(force_window=True)
    assert again["added"] == len(plays)  # the plays lost with the rollback are written again
    assert applied_count(engine) == len(plays)
    for i, track in enumerate(TRACKS):
        assert history_rows(db, track) == (2 if i < 5 else 1)
        assert view_count(db, track) == (2 if i < 5 else 1)

    reverted = run.run(force_window=True, revert_all=True)
    assert reverted["removed"] == len(plays)
    assert native_rows(db, natives) == kept  # Plex's own plays survive, untouched
    for i, track in enumerate(TRACKS):
        assert (history_rows(db, track), view_count(db, track)) == ((1, 1) if i < 5 else (0, 0))
    assert applied_count(engine) == 0


@ROLLED_BACK
def test_revert_right_after_a_rollback_deletes_nothing_of_plexs(
    tmp_path: Path, engine: Engine
) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i * 1000) for i, t in enumerate(TRACKS)])
    run = applier(engine, db, tmp_path)
    backup = Path(run.run(force_window=True)["backup"])
    restore_backup(backup, db)
    natives = plex_records(db, [(t, T0 + 10**6 + i) for i, t in enumerate(TRACKS[:5])])
    kept = dump(db)
    counts = run.run(force_window=True, revert_all=True)
    assert dump(db) == kept
    assert len(native_rows(db, natives)) == 5
    assert (counts["forgotten"], counts["removed"]) == (len(TRACKS), 0)


@ROLLED_BACK
def test_a_row_replaced_in_place_is_not_ours(tmp_path: Path, engine: Engine) -> None:
    """Same id, another fingerprint (a repair tool rewrote the row): forgotten, never deleted."""
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0), scrobble(TRACKS[1], T0 + 50)])
    run = applier(engine, db, tmp_path)
    run.run(force_window=True)
    with engine.connect() as conn:
        first = conn.exec_driver_sql("SELECT view_id FROM applied_plays a JOIN scrobbles s ON "
                                     "s.id = a.scrobble_id WHERE s.uts = ?", (T0,)).scalar_one()
    conn2 = sqlite3.connect(db, isolation_level=None)
    conn2.execute("UPDATE metadata_item_views SET viewed_at = viewed_at + 7 WHERE id = ?",
                  (first,))
    conn2.close()
    counts = run.run(force_window=True, revert_all=True)
    assert native_rows(db, [first])  # the rewritten row stays
    assert (counts["forgotten"], counts["removed"]) == (1, 1)


@ROLLED_BACK
def test_status_counts_the_rows_really_present_and_says_when(
    tmp_path: Path, engine: Engine
) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    run = applier(engine, db, tmp_path)
    backup = Path(run.run(force_window=True)["backup"])
    status = collect_status(engine, "alice", {"alice": 1})
    assert status["applied_plays"] == len(TRACKS)
    assert status["ledger_checked_at"] is not None
    text = format_status(status)
    assert "checked against Plex's database" in text
    restore_backup(backup, db)
    run.run(force_window=True, dry_run=True)  # any apply reconciles first, a dry run too
    status = collect_status(engine, "alice", {"alice": 1})
    assert status["applied_plays"] == 0
    assert status["pending_plays"] == len(TRACKS)


def test_revert_on_a_legacy_timestamp_database_matches_the_fingerprint(
    tmp_path: Path, engine: Engine
) -> None:
    """Local-time string timestamps: the fingerprint compares in the database's convention."""
    db = setup(tmp_path, engine, [scrobble(t, T0 + i * 3600) for i, t in enumerate(TRACKS)],
               legacy=True)
    before = dump(db)
    run = applier(engine, db, tmp_path)
    run.run(force_window=True)
    counts = run.run(force_window=True, revert_all=True)
    assert dump(db) == before
    assert (counts["forgotten"], counts["removed"]) == (0, len(TRACKS))


@ROLLED_BACK
def test_already_in_plex_records_whose_native_play_is_gone_are_checked_again(
    tmp_path: Path, engine: Engine
) -> None:
    """A scrobble deduped against a native play that a rollback removed is written after all."""
    from daemon.plex.writer import PlexDatabaseWriter

    track = TRACKS[0]
    db = setup(tmp_path, engine, [scrobble(track, T0 + 30), scrobble(TRACKS[1], T0)])
    backup = PlexDatabaseWriter(db).backup(tmp_path / "by-hand")  # before the native play
    plex_records(db, [(track, T0)])
    run = applier(engine, db, tmp_path)
    first = run.run(force_window=True)
    assert (first["added"], first["already_in_plex"]) == (1, 1)
    restore_backup(backup, db)  # the native play and our play are gone
    counts = run.run(force_window=True)
    assert (view_count(db, track), view_count(db, TRACKS[1])) == (1, 1)
    assert (counts["forgotten"], counts["natives_gone"], counts["added"]) == (1, 1, 2)
    with engine.connect() as conn:
        assert ledger.summary(conn)["already_in_plex"] == 0


@ROLLED_BACK
def test_plexfm_restore_command_reconciles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from daemon.cli import main

    for name in [n for n in os.environ if n.startswith("PLEXFM_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", "unused0123456789abcdef")
    monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
    monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'plexfm.db'}")
    db = setup(tmp_path, store, [scrobble(t, T0 + i * 1000) for i, t in enumerate(TRACKS)])
    store.dispose()
    monkeypatch.setenv("PLEXFM_PLEX_DATABASE", str(db))
    assert main(["apply", "--now"]) == 0
    backup = capsys.readouterr().out.split("backup ")[1].strip()
    assert main(["restore", backup]) == 0
    out = capsys.readouterr().out
    assert f"{len(TRACKS)} plays" in out
    natives = plex_records(db, [(t, T0 + 10**6 + i) for i, t in enumerate(TRACKS[:5])])
    assert main(["status"]) == 0
    assert "plex:       0 plays written" in capsys.readouterr().out
    assert main(["revert", "--all", "--now"]) == 0
    assert "removed 0" in capsys.readouterr().out
    assert len(native_rows(db, natives)) == 5


# ---- migration 9: old ledger rows get their fingerprints -----------------------------------

def test_migration_9_fills_old_ledger_rows_conservatively(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_store_engine(url)
    migrate(old, target=8)
    with old.begin() as conn:
        for sid, uts in ((1, 1_600_000_000), (2, 1_600_000_100), (3, 1_600_000_200)):
            conn.exec_driver_sql(
                "INSERT INTO scrobbles (id, user, uts, artist, title, source, added_at) "
                "VALUES (?, 'alice', ?, 'A', ?, 'test', 0)", (sid, uts, f"T{sid}"))
        conn.exec_driver_sql(
            "INSERT INTO library_tracks (rating_key, section_id, guid, title, refreshed_at) "
            "VALUES (10, 1, 'plex://track/ten', 'T1', 0), (11, 1, '', 'T2', 0)")
        conn.exec_driver_sql(
            "INSERT INTO applied_plays (scrobble_id, account_id, rating_key, view_id, batch_id,"
            " applied_at) VALUES (1, 1, 10, 100, 1, 0), (2, 1, 11, 101, 1, 0),"
            " (3, 1, 12, NULL, 1, 0), (4, 1, 10, 103, 1, 0)")
    old.dispose()
    upgraded = open_store(url)
    with upgraded.connect() as conn:
        rows = conn.exec_driver_sql("SELECT scrobble_id, guid, viewed_at FROM applied_plays "
                                    "ORDER BY scrobble_id").all()
    upgraded.dispose()
    assert [tuple(r) for r in rows] == [
        (1, "plex://track/ten", 1_600_000_000),  # both known: a full fingerprint
        (2, None, 1_600_000_100),  # the mirror has no guid: never deleted, only forgotten
        (3, None, None),  # api mode: no history row
        (4, "plex://track/ten", None),  # the scrobble is gone
    ]


def test_a_ledger_row_without_a_full_fingerprint_is_never_deleted(
    tmp_path: Path, engine: Engine
) -> None:
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    run = applier(engine, db, tmp_path)
    run.run(force_window=True)
    with write(engine) as conn:  # what migration 9 leaves when the guid is unknown
        conn.exec_driver_sql("UPDATE applied_plays SET guid = NULL")
    before = dump(db)
    counts = run.run(force_window=True, revert_all=True)
    assert (counts["forgotten"], counts["removed"], counts["unremovable"]) == (0, 0, 1)
    assert dump(db) == before


# ---- 2. timestamps: 0 < viewed_at <= now + 1 day -------------------------------------------

@pytest.mark.reliability("input", "out-of-range play times")
@pytest.mark.parametrize("legacy", [False, True])
def test_scrobbles_outside_the_time_bound_are_skipped_and_counted(
    tmp_path: Path, engine: Engine, legacy: bool
) -> None:
    now = int(NOW.timestamp())
    plays = [scrobble(TRACKS[0], T0), scrobble(TRACKS[1], 1_796_470_000_000),  # milliseconds
             scrobble(TRACKS[2], now + MAX_AHEAD_SECONDS + 1),  # more than a day ahead
             scrobble(TRACKS[3], now + MAX_AHEAD_SECONDS)]  # exactly the bound: written
    # a store written before the ingest side refused such times (its clock far ahead)
    db = setup(tmp_path, engine, plays, legacy=legacy, store_clock=lambda: 1e13)
    run = applier(engine, db, tmp_path)
    run._now = lambda: NOW
    dry = run.run(dry_run=True)
    assert dry["to_add"] == 2
    counts = run.run(force_window=True)
    assert [view_count(db, t) for t in TRACKS[:4]] == [1, 0, 0, 1]
    assert (dry["out_of_range"], counts["added"], counts["out_of_range"]) == (2, 2, 2)
    assert run.run(force_window=True)["added"] == 0
    assert collect_status(engine, "alice", {"alice": 1}, now=now)["pending_plays"] == 0


def test_the_page_status_and_the_apply_count_the_same_plays_waiting(
    tmp_path: Path, engine: Engine
) -> None:
    """Plays outside the time bound are not "waiting for the window" anywhere: the status
    page's cached count uses the same rule as `plexfm status` and the apply."""
    from daemon.store import pagestats

    now = int(NOW.timestamp())
    plays = [scrobble(TRACKS[0], T0), scrobble(TRACKS[1], 1_796_470_000_000),
             scrobble(TRACKS[2], now + MAX_AHEAD_SECONDS + 1),
             scrobble(TRACKS[3], now + MAX_AHEAD_SECONDS)]
    db = setup(tmp_path, engine, plays, store_clock=lambda: 1e13)
    run = applier(engine, db, tmp_path)
    run._now = lambda: NOW
    to_add = run.run(dry_run=True)["to_add"]
    status = collect_status(engine, "alice", {"alice": 1}, now=now)
    page = pagestats.refresh(engine, ["alice"], now=now)
    assert (to_add, status["pending_plays"], page["pending_plays"]) == (2, 2, 2)
