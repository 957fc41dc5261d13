"""The ledger reconciliation (`daemon.apply.recovery.reconcile`), case by case.

Which ledger rows a check forgets, exactly: a history row of ours is still ours only while its
id, account, track type, guid and time are what the ledger holds, a NULL guid or time (an old
row, migration 9) not being compared; a play "already in Plex" is still there only while Plex
has as many history rows of that play as records name it, a track gone from Plex not being
judged. Both timestamp conventions; and the check leaves Plex's database as it found it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.apply import recovery
from daemon.plex import history
from daemon.store import ledger
from daemon.store.engine import write
from tests.test_apply import T0, TRACKS, applier, scrobble, setup

FAR = T0 + 10**6  # native plays far from every scrobble: never deduped against one
# what is done to the history row of each ledger row, and what the ledger row then holds
VIEW_CASES = [
    # (change to Plex's row, change to the ledger row, forgotten?)
    ("", "", False),
    ("delete", "", True),
    ("time", "", True),
    ("guid", "", True),
    ("account", "", True),
    ("type", "", True),
    ("guid", "no guid", False),  # a NULL guid is not compared
    ("time", "no guid", True),
    ("time", "no time", False),  # a NULL time is not compared
    ("guid", "no time", True),
    ("delete", "no time", True),
    ("guid+time", "no guid, no time", False),
    ("account", "no guid, no time", True),
    ("delete", "no view", False),  # api mode's marks have no history row: never checked
]


def _plex(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def _shift(legacy: bool) -> str:
    """SQL moving viewed_at 7 seconds, in the database's own convention."""
    return "datetime(viewed_at, '+7 seconds')" if legacy else "viewed_at + 7"


def _change_view(conn: sqlite3.Connection, view_id: int, change: str, legacy: bool) -> None:
    sets = {"time": f"viewed_at = {_shift(legacy)}", "account": "account_id = 2",
            "type": "metadata_type = 9", "guid": "guid = 'plex://track/someone-else'",
            "guid+time": f"guid = 'plex://track/someone-else', viewed_at = {_shift(legacy)}"}
    if change == "delete":
        conn.execute("DELETE FROM metadata_item_views WHERE id = ?", (view_id,))
    elif change:
        conn.execute(f"UPDATE metadata_item_views SET {sets[change]} WHERE id = ?", (view_id,))


def _change_ledger(engine: Engine, scrobble_id: int, change: str) -> None:
    sets = {"no guid": "guid = NULL", "no time": "viewed_at = NULL",
            "no guid, no time": "guid = NULL, viewed_at = NULL", "no view": "view_id = NULL"}
    if change:
        with write(engine) as conn:
            conn.exec_driver_sql(f"UPDATE applied_plays SET {sets[change]} WHERE scrobble_id = ?",
                                 (scrobble_id,))


def _ledger_ids(engine: Engine, table: str) -> set[int]:
    with engine.connect() as conn:
        return {int(r[0]) for r in conn.exec_driver_sql(f"SELECT scrobble_id FROM {table}")}


@pytest.mark.parametrize("legacy", [False, True], ids=["integer", "legacy"])
def test_exactly_the_rows_no_longer_as_written_are_forgotten(
    tmp_path: Path, engine: Engine, legacy: bool
) -> None:
    plays = [scrobble(TRACKS[i % len(TRACKS)], T0 + i * 1000) for i in range(len(VIEW_CASES))]
    db = setup(tmp_path, engine, plays, legacy=legacy)
    assert applier(engine, db, tmp_path).run(force_window=True)["added"] == len(plays)
    with engine.connect() as conn:
        rows = [(int(s), int(v)) for s, v in conn.exec_driver_sql(
            "SELECT scrobble_id, view_id FROM applied_plays ORDER BY scrobble_id")]
    plex = _plex(db)
    try:
        for (sid, view_id), (plex_change, ledger_change, _gone) in zip(rows, VIEW_CASES,
                                                                     strict=True):
            _change_view(plex, view_id, plex_change, legacy)
            _change_ledger(engine, sid, ledger_change)
    finally:
        plex.close()
    expected = {sid for (sid, _v), case in zip(rows, VIEW_CASES, strict=True) if case[2]}

    counts = recovery.reconcile(engine, db, "apply")

    assert counts == {"forgotten": len(expected), "natives_gone": 0}
    assert _ledger_ids(engine, "applied_plays") == {sid for sid, _v in rows} - expected
    assert recovery.reconcile(engine, db, "apply") == {"forgotten": 0, "natives_gone": 0}
    with engine.connect() as conn:
        check = ledger.summary(conn)["last_check"]
    assert (check["source"], check["forgotten"]) == ("apply", 0)
    assert check["present"] == len(rows) - len(expected) - 1  # the api-mode mark has no row


@pytest.mark.parametrize(("legacy", "time_index"), [(False, True), (False, False), (True, True)],
                         ids=["integer", "integer-no-time-index", "legacy"])
def test_a_native_play_counted_n_times_needs_n_history_rows(
    tmp_path: Path, engine: Engine, legacy: bool, time_index: bool
) -> None:
    """Each case in both query forms: plays found by the time index, or by the guid index
    (a database without the time index, or with text timestamps)."""
    t = TRACKS
    natives = [(t[0].id, 1, FAR), (t[1].id, 1, FAR + 100), (t[2].id, 1, FAR + 200),
               (t[2].id, 1, FAR + 200), (t[4].id, 1, FAR + 400), (t[5].id, 1, FAR + 500),
               (t[7].id, 1, FAR + 700)]
    db = setup(tmp_path, engine, [scrobble(t[6], T0)], natives=natives, legacy=legacy)
    applier(engine, db, tmp_path).run(force_window=True)
    claims = [
        (901, t[0].id, FAR, False),  # its play is there
        (902, t[1].id, FAR + 100, False),  # two records of one play, one history row:
        (903, t[1].id, FAR + 100, True),  # the later record goes
        (904, t[2].id, FAR + 200, False),  # two records, two rows: both stay
        (905, t[2].id, FAR + 200, False),
        (906, t[3].id, FAR + 300, True),  # no such play
        (907, 999_999, FAR, False),  # the track is not in Plex: not judged
        (908, t[4].id, FAR + 400, True),  # the row is another account's now
        (909, t[5].id, FAR + 500, True),  # the row is no track's play now
        (910, t[7].id, FAR + 700, False),  # the track has no guid now: not judged
    ]
    with write(engine) as conn:
        ledger.record_in_plex(conn, [(sid, 1, key, at) for sid, key, at, _gone in claims])
    plex = _plex(db)
    try:
        for key, change in ((t[4].id, "account_id = 2"), (t[5].id, "metadata_type = 9")):
            plex.execute(f"UPDATE metadata_item_views SET {change} WHERE guid ="
                         " (SELECT guid FROM metadata_items WHERE id = ?)", (key,))
        for when in ("before", "after"):  # ICU triggers plain SQLite cannot run (Plex can)
            plex.execute(f"DROP TRIGGER fts4_metadata_titles_{when}_update_icu")
        plex.execute("UPDATE metadata_items SET guid = '' WHERE id = ?", (t[7].id,))
        if not time_index:
            plex.execute("DROP INDEX index_metadata_item_views_on_viewed_at")
    finally:
        plex.close()
    gone = {sid for sid, _k, _at, is_gone in claims if is_gone}

    counts = recovery.reconcile(engine, db, "revert")

    assert counts == {"forgotten": 0, "natives_gone": len(gone)}
    assert _ledger_ids(engine, "plays_in_plex") == {c[0] for c in claims} - gone
    assert len(_ledger_ids(engine, "applied_plays")) == 1


def test_the_check_leaves_plexs_database_as_it_found_it(tmp_path: Path,
                                                         engine: Engine) -> None:
    """No side file left next to a database nobody had open, no lock held afterwards."""
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0), scrobble(TRACKS[1], T0 + 60)])
    applier(engine, db, tmp_path).run(force_window=True)
    sides = [Path(f"{db}{s}") for s in ("-wal", "-shm", "-journal")]
    assert not any(p.exists() for p in sides)
    recovery.reconcile(engine, db, "apply")
    assert not any(p.exists() for p in sides)
    plex = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        plex.execute("BEGIN EXCLUSIVE")  # nothing of the check still holds the file
        plex.execute("ROLLBACK")
    finally:
        plex.close()


def test_the_check_sees_what_a_running_plex_committed(tmp_path: Path, engine: Engine) -> None:
    """Plex running: its last commits are in the WAL, not yet in the file; the check reads
    them (and leaves Plex's WAL where it was)."""
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0), scrobble(TRACKS[1], T0 + 60)])
    applier(engine, db, tmp_path).run(force_window=True)
    with engine.connect() as conn:
        first = conn.exec_driver_sql("SELECT min(view_id) FROM applied_plays").scalar_one()
    plex = _plex(db)  # stays open, like Plex: the WAL is not checkpointed away
    try:
        plex.execute("PRAGMA wal_autocheckpoint = 0")
        plex.execute("DELETE FROM metadata_item_views WHERE id = ?", (first,))
        assert Path(f"{db}-wal").stat().st_size > 0
        assert recovery.reconcile(engine, db, "apply") == {"forgotten": 1, "natives_gone": 0}
        assert Path(f"{db}-wal").exists()
    finally:
        plex.close()


def test_recover_without_an_unfinished_batch_reads_nothing_more(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    applier(engine, db, tmp_path).run(force_window=True)

    def refused(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("recover read the plays although no batch was interrupted")

    for name in ("desired_plays", "applied", "in_plex"):
        monkeypatch.setattr(ledger, name, refused)
    monkeypatch.setattr(history, "views_after", refused)
    assert recovery.recover(engine, db, {"alice": 1}) == 0


def test_a_store_in_memory_is_checked_too(tmp_path: Path) -> None:
    """A store with no file (an in-memory SQLite URL) is compared from a copy of its bytes."""
    from daemon.store.engine import open_store

    engine = open_store("sqlite://")
    try:
        db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0), scrobble(TRACKS[1], T0 + 60)])
        applier(engine, db, tmp_path).run(force_window=True)
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT min(view_id) FROM applied_plays").scalar_one()
        plex = _plex(db)
        try:
            plex.execute("DELETE FROM metadata_item_views WHERE id = ?", (first,))
        finally:
            plex.close()
        assert recovery.reconcile(engine, db, "apply") == {"forgotten": 1, "natives_gone": 0}
        assert len(_ledger_ids(engine, "applied_plays")) == 1
    finally:
        engine.dispose()


def test_a_wrong_plex_database_is_named_in_one_line(tmp_path: Path, engine: Engine) -> None:
    from daemon.errors import PlexWriteError

    with pytest.raises(PlexWriteError, match=r"^Plex's database not found: "):
        recovery.reconcile(engine, tmp_path / "nowhere.db", "apply")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE metadata_items (id INTEGER)").connection.close()
    with pytest.raises(PlexWriteError, match=r"^not a Plex library database: .*other\.db \(no "
                                             r"metadata_item_settings, metadata_item_views\)$"):
        recovery.reconcile(engine, other, "apply")


def test_written_rows_are_read_in_history_id_order_from_the_covering_index(
        tmp_path: Path, engine: Engine) -> None:
    # history ids grouped by track (`PlayColumns.history_order`) do not follow scrobble ids:
    # read in scrobble id order, Plex's 1M-row history would be probed at random (2.1 s
    # instead of 0.26 s); the ledger's index gives the rows in id order, its own rows unread
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    views = [7, 3, 9, 1, 8, 2, 6, 4, 5]
    with write(engine) as conn:
        batch = ledger.start_batch(conn, "offline", 0)
        ledger.record_applied(conn, batch, [
            (sid, 1, 100 + view % 3, view, f"plex://track/{view}", T0 + sid)
            for sid, view in enumerate(views, 1)] + [(10, 1, 100, None, None, None)])
    conn = sqlite3.connect(db)
    try:
        conn.execute(f"ATTACH DATABASE ? AS {history.LEDGER}", (str(tmp_path / "store.db"),))
        written = ledger.written_rows_sql(history.LEDGER)
        rows = conn.execute(written).fetchall()
        plan = [r[3] for r in conn.execute(
            f"EXPLAIN QUERY PLAN {history.views_gone_sql(written)}", (10,))]
    finally:
        conn.close()
    assert [r[1] for r in rows] == sorted(views)
    assert [r[0] for r in rows] == [views.index(v) + 1 for v in sorted(views)]
    assert rows[0][2:] == (1, "plex://track/1", T0 + 4)
    assert [step for step in plan if "ledger.applied_plays" in step] == [
        f"SEARCH ledger.applied_plays USING COVERING INDEX {ledger.VIEW_INDEX} (view_id>?)"]
    assert "SEARCH v USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN" in plan
