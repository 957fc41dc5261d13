"""The ledger thread forgets the rows a write removes once Plex has deleted them (the writer's
`removed` hook, issue 16): not while the writer binds the rows to remove in Python, where the
two threads take turns at the GIL. A writer that never says so only delays the forgetting."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.apply import job
from daemon.plex import playcounts
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter
from daemon.store import ledger
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import generate_library
from tests.test_apply import applier, dump, setup
from tests.test_apply_ledger_thread import LEDGER_SQL, _fixed_clock, _plays

NOW = 1_760_000_000


def _forgetting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Records (thread name, Plex's rows already deleted) at each forget."""
    deleted = threading.Event()
    real_remove = playcounts.PlayWrite.remove
    real_forget = ledger.forget_applied
    seen: list[tuple[str, bool]] = []

    def remove(self: Any, rows: Any) -> Any:
        done = real_remove(self, rows)
        deleted.set()
        return done

    def forget(conn: Any, ids: Any) -> None:
        ids = list(ids)
        if ids:  # (the reconciliation's forget, with nothing to forget, is not this)
            seen.append((threading.current_thread().name, deleted.is_set()))
        real_forget(conn, ids)

    monkeypatch.setattr(playcounts.PlayWrite, "remove", remove)
    monkeypatch.setattr(ledger, "forget_applied", forget)
    monkeypatch.setattr(job, "PARALLEL_LEDGER_MIN", 1)
    return seen


def _applied(tmp_path: Path, engine: Engine) -> tuple[Path, Any, Any]:
    """Plex's database, the job that applied `_plays()` to it, its history before."""
    db = setup(tmp_path, engine, _plays())
    before = dump(db)["views"]
    run = applier(engine, db, tmp_path)
    run._writer = _fixed_clock(db)
    run.run(force_window=True)
    assert dump(db)["views"] != before
    return db, run, before


def test_the_ledger_forgets_once_plex_has_deleted_the_rows(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db, run, before = _applied(tmp_path, engine)
    seen = _forgetting(monkeypatch)
    counts = run.run(force_window=True, revert_all=True)
    assert counts["removed"] == len(_plays())
    assert seen == [("plexfm-ledger", True)], "forgotten before Plex's rows were deleted"
    with engine.connect() as conn:
        assert conn.exec_driver_sql(LEDGER_SQL).all() == []
    assert dump(db)["views"] == before


def test_a_writer_that_never_says_removed_still_forgets_before_the_commit(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db, run, before = _applied(tmp_path, engine)
    seen = _forgetting(monkeypatch)

    class Silent(PlexDatabaseWriter):
        def apply(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("removed")
            return super().apply(*args, **kwargs)

    run._writer = lambda account: Silent(db, account_id=account, clock=lambda: NOW)
    counts = run.run(force_window=True, revert_all=True)
    assert counts["removed"] == len(_plays())
    assert [name for name, _ in seen] == ["plexfm-ledger"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql(LEDGER_SQL).all() == []
        assert ledger.summary(conn)["last_apply"]["state"] == "done"
    assert dump(db)["views"] == before


def test_the_writer_says_removed_after_the_deletes_and_before_the_insert(
        tmp_path: Path) -> None:
    db = build_plex_db(tmp_path / "plex.db", generate_library(30, seed=4))
    track = db.library.tracks[0].id
    writer = PlexDatabaseWriter(db.path, clock=lambda: NOW)
    first = writer.apply([PlayToWrite(1, track, NOW - 100)], [], backup_dir=None)
    order: list[str] = []
    real_remove, real_insert = playcounts.PlayWrite.remove, playcounts.PlayWrite.insert

    def remove(self: Any, rows: Any) -> Any:
        order.append("remove")
        return real_remove(self, rows)

    def insert(self: Any, plays: Any, staged: Any = None) -> Any:
        order.append("insert")
        return real_insert(self, plays, staged)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(playcounts.PlayWrite, "remove", remove)
        patch.setattr(playcounts.PlayWrite, "insert", insert)
        result = writer.apply([PlayToWrite(2, track, NOW - 50)],
                              first.removable([PlayToWrite(1, track, NOW - 100)]),
                              backup_dir=None, removed=lambda: order.append("removed"),
                              staged=lambda _first, _guids: order.append("staged"),
                              committed=lambda _r: order.append("committed"))
    assert len(result.deleted) == 1
    assert order == ["remove", "removed", "insert", "staged", "committed"]
    dry: list[str] = []
    writer.apply([], [], backup_dir=None, dry_run=True, removed=lambda: dry.append("removed"))
    assert dry == ["removed"]  # (nothing to remove: said all the same, at once)
