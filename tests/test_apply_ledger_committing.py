"""The ledger thread forgets the rows a write removes when only Plex's COMMIT is left (the
writer's `committing` hook, issue 16): not while the writer binds the rows to remove in Python
(the two threads take turns at the GIL) or recounts the settings. A writer that never says so
only delays the forgetting."""

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
    """Records (thread name, Plex's settings already recounted) at each forget."""
    deleted = threading.Event()
    real_settings = playcounts.PlayWrite.update_settings
    real_forget = ledger.forget_applied
    seen: list[tuple[str, bool]] = []

    def update_settings(self: Any) -> Any:
        done = real_settings(self)
        deleted.set()
        return done

    def forget(conn: Any, ids: Any) -> None:
        ids = list(ids)
        if ids:  # (the reconciliation's forget, with nothing to forget, is not this)
            seen.append((threading.current_thread().name, deleted.is_set()))
        real_forget(conn, ids)

    monkeypatch.setattr(playcounts.PlayWrite, "update_settings", update_settings)
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


def test_the_ledger_forgets_when_only_plex_commit_is_left(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db, run, before = _applied(tmp_path, engine)
    seen = _forgetting(monkeypatch)
    counts = run.run(force_window=True, revert_all=True)
    assert counts["removed"] == len(_plays())
    assert seen == [("plexfm-ledger", True)], "forgotten before Plex's write was done"
    with engine.connect() as conn:
        assert conn.exec_driver_sql(LEDGER_SQL).all() == []
    assert dump(db)["views"] == before


def test_a_writer_that_never_says_committing_still_forgets_before_the_commit(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db, run, before = _applied(tmp_path, engine)
    seen = _forgetting(monkeypatch)

    class Silent(PlexDatabaseWriter):
        def apply(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("committing")
            return super().apply(*args, **kwargs)

    run._writer = lambda account: Silent(db, account_id=account, clock=lambda: NOW)
    counts = run.run(force_window=True, revert_all=True)
    assert counts["removed"] == len(_plays())
    assert [name for name, _ in seen] == ["plexfm-ledger"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql(LEDGER_SQL).all() == []
        assert ledger.summary(conn)["last_apply"]["state"] == "done"
    assert dump(db)["views"] == before


def test_the_writer_says_committing_when_only_the_commit_is_left(tmp_path: Path) -> None:
    db = build_plex_db(tmp_path / "plex.db", generate_library(30, seed=4))
    track = db.library.tracks[0].id
    writer = PlexDatabaseWriter(db.path, clock=lambda: NOW)
    first = writer.apply([PlayToWrite(1, track, NOW - 100)], [], backup_dir=None)
    order: list[str] = []
    steps = ("remove", "insert", "update_settings")
    reals = {step: getattr(playcounts.PlayWrite, step) for step in steps}

    def step(name: str) -> Any:
        def run(self: Any, *args: Any) -> Any:
            order.append(name)
            return reals[name](self, *args)
        return run

    with pytest.MonkeyPatch.context() as patch:
        for name in steps:
            patch.setattr(playcounts.PlayWrite, name, step(name))
        result = writer.apply([PlayToWrite(2, track, NOW - 50)],
                              first.removable([PlayToWrite(1, track, NOW - 100)]),
                              backup_dir=tmp_path / "backups",
                              committing=lambda: order.append("committing"),
                              staged=lambda _first, _guids: order.append("staged"),
                              committed=lambda _r: order.append("committed"))
    assert len(result.deleted) == 1
    assert result.backup is not None
    assert order == ["remove", "insert", "staged", "update_settings", "committing",
                     "committed"]
