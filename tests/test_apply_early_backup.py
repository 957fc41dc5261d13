"""The apply job starts its backup beside the plan (`EarlyBackup`) only when Plex is not
running and plexfm will not stop it, and the backup it keeps is the state before the write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.apply import job
from daemon.plex import writer
from daemon.plex.backup_files import list_backups
from tests.test_apply import T0, TRACKS, applier, dump, scrobble, setup


def _spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[int]]:
    started: list[Any] = []
    taken: list[int] = []
    real_start, real_backup = job.EarlyBackup.start, writer.backup_database

    def start(*args: Any, **kwargs: Any) -> Any:
        early = real_start(*args, **kwargs)
        started.append(early)
        return early

    def backup(*args: Any, **kwargs: Any) -> Path:
        taken.append(1)
        return real_backup(*args, **kwargs)

    monkeypatch.setattr(job.EarlyBackup, "start", start)
    monkeypatch.setattr(writer, "backup_database", backup)
    return started, taken


def test_offline_with_plex_stopped_the_backup_is_taken_beside_the_plan(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    before = dump(db)
    started, taken = _spy(monkeypatch)
    counts = applier(engine, db, tmp_path).run(force_window=True)
    assert counts["added"] == len(TRACKS)
    assert len(started) == 1
    assert taken == []  # the early copy was the backup
    assert list_backups(tmp_path / "backups") == [Path(counts["backup"])]
    assert dump(Path(counts["backup"])) == before
    nothing = applier(engine, db, tmp_path).run(force_window=True)  # nothing to write
    assert (nothing["added"], len(started)) == (0, 2)
    assert list_backups(tmp_path / "backups") == [Path(counts["backup"])]
    assert not list((tmp_path / "backups").glob(".*partial*"))  # the second one deleted


@pytest.mark.parametrize("overrides", [{"stop_command": "true"}, {"mode": "live"}])
def test_no_early_backup_when_plex_may_be_running(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        overrides: dict[str, Any]) -> None:
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    started, taken = _spy(monkeypatch)
    counts = applier(engine, db, tmp_path, **overrides).run(force_window=True)
    assert counts["added"] == 1
    assert (started, taken) == ([], [1])
