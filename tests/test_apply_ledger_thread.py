"""The ledger written alongside Plex's insert (daemon/apply/ledger_thread.py, issue 16): the
same ledger and Plex state as when written afterwards; nothing recorded when Plex's write
fails; and when the ids announced are not the ids written, the rows are written again with
the real ones."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.apply import job
from daemon.errors import PlexWriteError
from daemon.plex.writer import PlexDatabaseWriter
from daemon.store import ledger
from tests.fakes.plex_db import build_plex_db
from tests.test_apply import LIBRARY, T0, TRACKS, applier, dump, scrobble, setup

LEDGER_SQL = ("SELECT scrobble_id, account_id, rating_key, view_id, guid, viewed_at, batch_id"
              " FROM applied_plays ORDER BY scrobble_id")


def _plays() -> list[Any]:
    return [scrobble(t, T0 + i * 1000 + n) for i, t in enumerate(TRACKS) for n in range(3)]


def _fixed_clock(db: Path) -> Any:
    return lambda account: PlexDatabaseWriter(db, account_id=account, clock=lambda: T0 + 10**6)


def _state(engine: Engine, db: Path) -> tuple[Any, ...]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(LEDGER_SQL).all()
        states = conn.exec_driver_sql("SELECT state, added FROM apply_batches").all()
    return dump(db), rows, states


def _serial_then_fresh(tmp_path: Path, engine: Engine) -> tuple[tuple[Any, ...], Path, Path]:
    """Apply `_plays()` with the ledger written after Plex (serial); then an empty ledger and a
    fresh Plex database for the same apply another way. Returns (the serial state, the fresh
    database, its directory)."""
    serial_dir, threaded_dir = tmp_path / "serial", tmp_path / "threaded"
    serial_dir.mkdir()
    threaded_dir.mkdir()
    db = setup(serial_dir, engine, _plays())
    run = applier(engine, db, serial_dir)
    run._writer = _fixed_clock(db)
    run.run(force_window=True)
    serial = _state(engine, db)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM applied_plays")
        conn.exec_driver_sql("DELETE FROM apply_batches")
    db2 = threaded_dir / "plex.db"
    build_plex_db(db2, LIBRARY)
    return serial, db2, threaded_dir


def test_the_ledger_written_alongside_equals_the_ledger_written_after(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    serial, db2, threaded_dir = _serial_then_fresh(tmp_path, engine)
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)
    started: list[int] = []
    real = job.LedgerThread.staged

    def staged(self: Any, first: int, guids: dict[int, str]) -> None:
        started.append(first)
        real(self, first, guids)

    monkeypatch.setattr(job.LedgerThread, "staged", staged)
    run = applier(engine, db2, threaded_dir)
    run._writer = _fixed_clock(db2)
    counts = run.run(force_window=True)
    assert started, "the ledger was not written alongside"
    assert counts["added"] == len(_plays())
    assert _state(engine, db2) == serial


def test_the_ids_the_ledger_thread_predicts_are_those_written(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The thread numbers the new rows in the writer's history order (by track, then time): with
    plays of different tracks interleaved in time, its rows are the ones committed, not
    discarded and written again by the job (which would be correct, only serial)."""
    plays = [scrobble(t, T0 + n * 1000 + i) for n in range(3) for i, t in enumerate(TRACKS)]
    db = setup(tmp_path, engine, plays)
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)
    kept: list[bool] = []
    real = job.LedgerThread.committed

    def committed(self: Any) -> bool:
        kept.append(real(self))
        return kept[-1]

    monkeypatch.setattr(job.LedgerThread, "committed", committed)
    with caplog.at_level("INFO"):
        counts = applier(engine, db, tmp_path).run(force_window=True)
    assert counts["added"] == len(plays)
    assert kept == [True]
    assert "written again" not in caplog.text
    with engine.connect() as conn:
        views = dict(conn.exec_driver_sql("SELECT scrobble_id, view_id FROM applied_plays").all())
    plex = sqlite3.connect(db)
    try:
        rows = plex.execute("SELECT id, guid, viewed_at FROM metadata_item_views WHERE id >= ?"
                            " ORDER BY id", (min(views.values()),)).fetchall()
    finally:
        plex.close()
    assert sorted(views.values()) == [r[0] for r in rows]
    assert [r[2] for r in rows] != sorted(r[2] for r in rows)  # not in time order: by track


def test_the_history_order_is_sorted_once_for_the_writer_and_the_ledger_thread(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both number the new rows in `PlayColumns.history_order` (1M plays: 0.25 s of sort on
    the job's thread each time): sorted once per transaction, and read-only."""
    import numpy as np

    plays = [scrobble(t, T0 + n * 1000 + i) for n in range(3) for i, t in enumerate(TRACKS)]
    db = setup(tmp_path, engine, plays)
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)
    sorts: list[int] = []
    real_lexsort = np.lexsort

    def lexsort(keys: Any, *args: Any, **kwargs: Any) -> Any:
        sorts.append(len(keys[0]))
        return real_lexsort(keys, *args, **kwargs)

    monkeypatch.setattr(np, "lexsort", lexsort)
    orders: list[Any] = []
    real_staged = job.LedgerThread.staged

    def staged(self: Any, first: int, guids: dict[int, str]) -> None:
        orders.append(self._plays.history_order())
        real_staged(self, first, guids)

    monkeypatch.setattr(job.LedgerThread, "staged", staged)
    counts = applier(engine, db, tmp_path).run(force_window=True)
    assert counts["added"] == len(plays)
    assert [n for n in sorts if n] == [len(plays)]  # (the plan sorts no other plays)
    assert len(orders) == 1
    assert not orders[0].flags.writeable


def test_nothing_is_recorded_when_plex_fails_after_the_ledger_started(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db = setup(tmp_path, engine, _plays())
    before = dump(db)
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)

    class Failing(PlexDatabaseWriter):
        def apply(self, *args: Any, **kwargs: Any) -> Any:
            staged = kwargs["staged"]

            def then_fail(first: int, guids: dict[int, str]) -> None:
                staged(first, guids)
                raise PlexWriteError("disk full")

            return super().apply(*args, **{**kwargs, "staged": then_fail})

    run = applier(engine, db, tmp_path)
    run._writer = lambda account: Failing(db, account_id=account)
    with pytest.raises(PlexWriteError, match="disk full"):
        run.run(force_window=True)
    assert dump(db) == before
    with engine.connect() as conn:
        assert ledger.summary(conn)["applied_plays"] == 0
        assert ledger.summary(conn)["last_apply"]["state"] == "failed"


def test_wrongly_announced_ids_are_written_again_with_the_real_ones(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db = setup(tmp_path, engine, _plays())
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)

    class Lying(PlexDatabaseWriter):
        def apply(self, *args: Any, **kwargs: Any) -> Any:
            staged = kwargs["staged"]
            return super().apply(*args, **{**kwargs, "staged": lambda first, guids: staged(
                first + 7, guids)})

    run = applier(engine, db, tmp_path)
    run._writer = lambda account: Lying(db, account_id=account)
    counts = run.run(force_window=True)
    assert counts["added"] == len(_plays())
    with engine.connect() as conn:
        views = [r[0] for r in conn.exec_driver_sql(
            "SELECT view_id FROM applied_plays ORDER BY view_id")]
    plex = sqlite3.connect(db)
    try:
        ours = [r[0] for r in plex.execute(
            "SELECT id FROM metadata_item_views WHERE id >= ? ORDER BY id", (views[0],))]
    finally:
        plex.close()
    assert views == ours  # the real ids, not those announced
    assert applier(engine, db, tmp_path).run(force_window=True)["added"] == 0


def test_an_in_memory_store_writes_its_ledger_in_the_jobs_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-memory store is a database per thread: a second thread would write the ledger
    into an empty one. Its ledger is written after Plex's commit, in the job's thread."""
    from daemon.store.engine import open_store

    engine = open_store("sqlite://")
    try:
        db = setup(tmp_path, engine, _plays())
        monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)
        started: list[int] = []
        monkeypatch.setattr(job.LedgerThread, "staged",
                            lambda self, first, guids: started.append(first))
        counts = applier(engine, db, tmp_path).run(force_window=True)
        assert not started, "the ledger was written alongside, on another connection"
        assert counts["added"] == len(_plays())
        with engine.connect() as conn:
            assert ledger.summary(conn)["applied_plays"] == len(_plays())
    finally:
        engine.dispose()


def _moved(tmp_path: Path, threaded: bool, monkeypatch: pytest.MonkeyPatch,
           tamper: bool = False) -> tuple[Any, ...]:
    """Apply, then move TRACKS[0]'s and TRACKS[1]'s plays to other tracks (removals and
    inserts in one transaction) and unmatch TRACKS[2]'s; `tamper`: two of the rows to remove
    (one moved, one unmatched) are changed in Plex after the plan (the writer leaves them).
    Returns Plex's tables, the ledger, the counts."""
    from daemon.store import matches
    from daemon.store.engine import open_store, write

    tmp_path.mkdir()
    engine = open_store(f"sqlite:///{tmp_path}/store.db")
    try:
        db = setup(tmp_path, engine, _plays())
        monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1 if threaded else 10**9)
        forgotten: list[list[int]] = []
        real_init = job.LedgerThread.__init__

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            forgotten.append(list(kwargs.get("forget", [])))
            real_init(self, *args, **kwargs)

        monkeypatch.setattr(job.LedgerThread, "__init__", init)
        run = applier(engine, db, tmp_path)
        run._writer = _fixed_clock(db)
        run.run(force_window=True)
        with write(engine) as conn:
            for old, new in ((TRACKS[0], TRACKS[5]), (TRACKS[1], TRACKS[6])):
                track_id = matches.find_track(conn, *scrobble(old, 0)[1:4])
                assert track_id is not None
                matches.decide(conn, track_id, matches.MANUAL, new.id)
            gone = matches.find_track(conn, *scrobble(TRACKS[2], 0)[1:4])
            assert gone is not None
            matches.decide(conn, gone, matches.NOT_IN_LIBRARY, None)

        class Tampering(PlexDatabaseWriter):
            def apply(self, add: Any, remove: Any, **kwargs: Any) -> Any:
                if tamper:
                    plex = sqlite3.connect(db)
                    plex.executemany("UPDATE metadata_item_views SET viewed_at = viewed_at + 1"
                                     " WHERE id = ?", [(remove[0].view_id,),
                                                       (remove[-1].view_id,)])
                    plex.commit()
                    plex.close()
                return super().apply(add, remove, **kwargs)

        run._writer = lambda account: Tampering(db, account_id=account,
                                                clock=lambda: T0 + 10**6)
        counts = run.run(force_window=True)
        assert bool(forgotten and forgotten[-1]) == threaded, "not forgotten alongside"
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT scrobble_id, account_id, rating_key, view_id, guid, viewed_at"
                " FROM applied_plays ORDER BY scrobble_id").all()
        return dump(db), rows, (counts["added"], counts["removed"])
    finally:
        engine.dispose()


@pytest.mark.parametrize("tamper", [False, True], ids=["as planned", "a row changed in Plex"])
def test_a_revert_forgets_alongside_exactly_as_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tamper: bool) -> None:
    serial = _moved(tmp_path / "serial", False, monkeypatch, tamper)
    threaded = _moved(tmp_path / "threaded", True, monkeypatch, tamper)
    assert threaded == serial
    assert serial[2] == (6, 7 if tamper else 9)


def test_nothing_is_forgotten_when_plex_fails_after_the_forget_started(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db = setup(tmp_path, engine, _plays())
    applier(engine, db, tmp_path).run(force_window=True)
    with engine.connect() as conn:
        before_ledger = conn.exec_driver_sql(LEDGER_SQL).all()
    before = dump(db)
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)
    started = threading.Event()
    real_forget = ledger.forget_applied

    def forget(conn: Any, ids: Any) -> None:
        real_forget(conn, ids)
        started.set()

    monkeypatch.setattr(ledger, "forget_applied", forget)

    class Failing(PlexDatabaseWriter):
        def apply(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["committing"]()  # Plex's rows deleted inside its transaction, then it fails
            assert started.wait(10), "the ledger thread did not forget before Plex's COMMIT"
            raise PlexWriteError("disk full")

    run = applier(engine, db, tmp_path)
    run._writer = lambda account: Failing(db, account_id=account)
    with pytest.raises(PlexWriteError, match="disk full"):
        run.run(force_window=True, revert_all=True)
    assert dump(db) == before
    with engine.connect() as conn:
        assert conn.exec_driver_sql(LEDGER_SQL).all() == before_ledger
        assert ledger.summary(conn)["last_apply"]["state"] == "failed"


def test_the_ledger_commits_after_plex_while_plex_is_checkpointed(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's commit starts once Plex's COMMIT returned (never before: nothing is in the
    ledger yet while Plex has every row), and runs while Plex's WAL is checkpointed."""
    db = setup(tmp_path, engine, _plays())
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)
    seen: list[tuple[int, int, int]] = []
    real = job.LedgerThread.plex_committed

    def committed(self: Any, result: Any, finish: Any) -> None:
        plex = sqlite3.connect(db)
        try:
            in_plex = plex.execute("SELECT count(*) FROM metadata_item_views "
                                   "WHERE device_id IS NULL").fetchone()[0]
        finally:
            plex.close()
        wal = db.with_name(db.name + "-wal")
        with engine.connect() as conn:
            seen.append((in_plex, ledger.summary(conn)["applied_plays"],
                         wal.stat().st_size if wal.exists() else 0))
        real(self, result, finish)

    monkeypatch.setattr(job.LedgerThread, "plex_committed", committed)
    counts = applier(engine, db, tmp_path).run(force_window=True)
    assert counts["added"] == len(_plays())
    assert len(seen) == 1
    in_plex, in_ledger, wal = seen[0]
    assert in_plex >= len(_plays())
    assert in_ledger == 0
    assert wal > 0
    with engine.connect() as conn:
        assert ledger.summary(conn)["applied_plays"] == len(_plays())


def test_a_ledger_thread_that_fails_at_plex_commit_is_written_by_the_job(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    serial, db2, threaded_dir = _serial_then_fresh(tmp_path, engine)
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)

    def broken(self: Any, result: Any, finish: Any) -> None:
        raise RuntimeError("queue gone")

    monkeypatch.setattr(job.LedgerThread, "plex_committed", broken)
    run = applier(engine, db2, threaded_dir)
    run._writer = _fixed_clock(db2)
    assert run.run(force_window=True)["added"] == len(_plays())
    assert _state(engine, db2) == serial
