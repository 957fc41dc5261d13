"""After an apply, Plex is asked whether it shows what was written: status, metric, dashboard."""

from __future__ import annotations

import socket
import time
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.apply.job import Applier, ApplySettings
from daemon.plex import readback
from daemon.plex.server import PlexServerProbe
from daemon.service.health import evaluate
from daemon.store import jobruns
from daemon.web import WebDeps, create_app
from daemon.web.dashboard import dashboard
from tests.fakes.plex_server import FakePlexServer
from tests.test_apply import T0, TRACKS, scrobble, setup

TOKEN = "readback-token-31c9"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def live(engine: Engine, db: Path, tmp_path: Path, url: str) -> Applier:
    return Applier(engine, ApplySettings(
        database=db, mode="live", window=(dt_time(4), dt_time(5)),
        accounts={"alice": 1, "bob": 2}, slack_seconds=300, backup_dir=tmp_path / "b",
        backups_keep=3, lock_path=tmp_path / "l"), probe=PlexServerProbe(url, TOKEN, timeout=5))


def web(engine: Engine) -> Any:
    return create_app(WebDeps(engine=engine, health=lambda: evaluate(engine, []))).test_client()


def test_sample_is_spread_and_deterministic() -> None:
    assert readback.sample([5, 3, 3, 1]) == [1, 3, 5]
    picked = readback.sample(range(1000), 20)
    assert picked == list(range(0, 1000, 50))


def test_live_apply_reads_back_and_plex_agrees(tmp_path: Path, engine: Engine) -> None:
    plays = [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)]
    db = setup(tmp_path, engine, plays)
    with FakePlexServer(db, token=TOKEN) as plex:
        counts = live(engine, db, tmp_path, plex.url).run(force_window=True)
        asked = [r.path for r in plex.requests if r.path.startswith("/library/metadata/")]
    assert counts["added"] == len(plays)
    assert counts["readback"] == {"status": "agrees", "checked": len(TRACKS),
                                  "disagreements": 0, "examples": [], "note": ""}
    assert sorted(asked) == sorted(f"/library/metadata/{t.id}" for t in TRACKS)


def test_a_disagreeing_plex_is_an_error_on_the_dashboard_and_in_metrics(
        tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    with FakePlexServer(db, token=TOKEN) as plex:
        probe = PlexServerProbe(plex.url, TOKEN)
        probe.mark_played(TRACKS[0].id)  # Plex now shows one play its database does not hold
        result = readback.read_back(probe, db, [t.id for t in TRACKS])
    assert (result.status, result.checked, result.disagreements) == ("disagrees", len(TRACKS), 1)
    assert result.examples[0]["rating_key"] == TRACKS[0].id
    assert result.examples[0]["database"][0] + 1 == result.examples[0]["plex"][0]
    with engine.begin() as conn:
        run = jobruns.start(conn, "apply", "manual", time.time())
        jobruns.finish(conn, run, time.time(), "ok", {"added": 3, **result.as_counts()}, None)
        data = dashboard(conn, users=["alice"], jobs=["apply"], next_runs=dict,
                         running=set, window=None, now=datetime.now().astimezone())
    assert data["readback"]["status"] == "disagrees"
    metrics = web(engine).get("/metrics").get_data(as_text=True)
    assert "plexfm_apply_readback_agrees 0.0" in metrics
    assert "plexfm_apply_readback_disagreements 1.0" in metrics


def test_the_dashboard_shows_the_read_back_line(tmp_path: Path, engine: Engine) -> None:
    result = readback.ReadBack("disagrees", 20, 2, [{"rating_key": 7, "database": [5, 1],
                                                     "plex": [4, 1]}])
    with engine.begin() as conn:
        run = jobruns.start(conn, "apply", "manual", time.time())
        jobruns.finish(conn, run, time.time(), "ok", result.as_counts(), None)
    page = web(engine).get("/").get_data(as_text=True)
    assert "error: Plex disagrees</span> on 2 of 20 tracks (track 7: database 5 plays, Plex " \
        "shows 4)" in page


def test_plex_down_is_not_checked_after_waiting_its_time(tmp_path: Path,
                                                         engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    probe = PlexServerProbe(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=1)
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    result = readback.read_back(probe, db, [TRACKS[0].id], wait_seconds=10, sleep=sleep,
                                clock=lambda: now[0])
    assert (result.status, result.note) == ("not_checked",
                                            "Plex is not running, so it could not be asked")
    assert sum(slept) == 10


def test_only_the_owners_plays_are_read_back(tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    with FakePlexServer(db, token=TOKEN) as plex:
        probe = PlexServerProbe(plex.url, TOKEN)
        guest_only: Any = readback.after_apply(probe, db, [(1, 2, TRACKS[0].id, T0)],
                                               wait_seconds=0, sleep=time.sleep)
    assert guest_only["readback"]["status"] == "not_checked"
    assert readback.after_apply(None, db, [(1, 1, TRACKS[0].id, T0)], wait_seconds=0,
                                sleep=time.sleep) == {}


@pytest.mark.parametrize("status", ["agrees", "not_checked"])
def test_no_metric_lies_about_an_unchecked_read_back(engine: Engine, status: str) -> None:
    with engine.begin() as conn:
        run = jobruns.start(conn, "apply", "manual", time.time())
        jobruns.finish(conn, run, time.time(), "ok",
                       readback.ReadBack(status, 3 if status == "agrees" else 0).as_counts(),
                       None)
    metrics = web(engine).get("/metrics").get_data(as_text=True)
    assert ("plexfm_apply_readback_agrees 1.0" in metrics) == (status == "agrees")
    assert ("plexfm_apply_readback_agrees" in metrics) == (status == "agrees")
