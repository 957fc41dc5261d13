"""The apply's plan made while the ledger is reconciled with Plex's database (issue 16): a plan
that ran before the reconciliation forgot rows is made again, so plays Plex lost are written
again in the same run; a failed reconciliation fails the run; an unchanged ledger is planned
once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.apply import job
from daemon.errors import PlexWriteError
from daemon.plex import history
from daemon.plex.writer import restore_backup
from tests.test_apply import T0, TRACKS, applier, dump, scrobble, setup
from tests.test_apply_ledger_thread import _fixed_clock

DEADLINE_S = 10.0


def _plans(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], threading.Event]:
    """Counts the plans; the event is set when the first one is made."""
    made: list[int] = []
    first = threading.Event()
    real = job.Applier._plan

    def plan(self: Any, revert_all: bool) -> Any:
        result = real(self, revert_all)
        made.append(len(result[1][0]))
        first.set()
        return result

    monkeypatch.setattr(job.Applier, "_plan", plan)
    return made, first


def _held_check(monkeypatch: pytest.MonkeyPatch, until: threading.Event,
                fail: Exception | None = None) -> None:
    real = history.ledger_mismatches

    def check(*args: Any, **kwargs: Any) -> Any:
        if not until.wait(DEADLINE_S):
            raise AssertionError("the ledger was reconciled before the plan was made")
        if fail is not None:
            raise fail
        return real(*args, **kwargs)

    monkeypatch.setattr(history, "ledger_mismatches", check)


def test_a_plan_made_before_the_ledger_forgot_rows_is_made_again(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    plays = [scrobble(t, T0 + i * 1000) for i, t in enumerate(TRACKS)]
    db = setup(tmp_path, engine, plays)
    run = applier(engine, db, tmp_path)
    run._writer = _fixed_clock(db)  # the settings rows' created_at: not the second it ran in
    first = run.run(force_window=True)
    after = dump(db)
    restore_backup(Path(first["backup"]), db)  # Plex's own restore: our plays are gone
    made, planned = _plans(monkeypatch)
    _held_check(monkeypatch, planned)
    run = applier(engine, db, tmp_path)
    run._writer = _fixed_clock(db)
    again = run.run(force_window=True)
    assert made == [0, len(plays)]  # planned on the old ledger (nothing to do), then again
    assert (again["forgotten"], again["added"]) == (len(plays), len(plays))
    assert dump(db) == after  # the same rows again, under the ids the rollback freed


def test_a_failed_reconciliation_fails_the_run(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    before = dump(db)
    _made, planned = _plans(monkeypatch)
    _held_check(monkeypatch, planned, fail=PlexWriteError("reading Plex's database failed"))
    with pytest.raises(PlexWriteError, match="reading Plex's database failed"):
        applier(engine, db, tmp_path).run(force_window=True)
    assert dump(db) == before


def test_an_unchanged_ledger_is_planned_once(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    made, planned = _plans(monkeypatch)
    _held_check(monkeypatch, planned)
    assert applier(engine, db, tmp_path).run(force_window=True)["added"] == len(TRACKS)
    assert made == [len(TRACKS)]


def test_when_plan_and_check_both_fail_the_plans_error_is_raised_and_the_check_logged(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    planned = threading.Event()

    def failing_plan(self: Any, revert_all: bool) -> Any:
        planned.set()
        raise RuntimeError("the store went away")

    monkeypatch.setattr(job.Applier, "_plan", failing_plan)
    _held_check(monkeypatch, planned, fail=PlexWriteError("reading Plex's database failed"))
    with pytest.raises(RuntimeError, match="the store went away"):
        applier(engine, db, tmp_path).run(force_window=True)
    assert "reading Plex's database failed" in caplog.text
