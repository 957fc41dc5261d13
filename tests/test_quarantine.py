"""A store written before the range check, holding plays dated year 58897 (issue 10).

Migration 11 moves them to scrobbles_quarantine (kept, never deleted) together with what was
derived from them, so status, stats, export, the History and the Analytics pages work again
and count exactly the plays left.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from daemon.analytics.genres import GenreRules
from daemon.analytics.report import AnalyticsSettings
from daemon.analytics.rollup import refresh
from daemon.cli import main
from daemon.config import load_config
from daemon.scrobble import Scrobble, with_ordinals
from daemon.service.health import evaluate
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tracks
from daemon.store.engine import create_store_engine, open_store
from daemon.store.migrations import migrate
from daemon.web import WebDeps, create_app
from tests.environment import plexfm_only
from tests.fakes.lastfm_server import MS_TIMESTAMP

pytestmark = pytest.mark.reliability("input", "out-of-range play times")
T0 = 1_600_000_000
UTC = ZoneInfo("UTC")
GOOD = [Scrobble(T0 + i * 3600, "Band", f"Song {i % 3}", "Record") for i in range(12)]
GOOD.append(Scrobble(0, "Band", "Song 0", "Record"))  # an undated legacy play: history
# (uts, title): a millisecond time on a track with good plays, and on a track of its own,
# a negative time, and the largest SQLite integer
BAD = [(MS_TIMESTAMP, "Song 0"), (MS_TIMESTAMP + 5, "Only Bad"), (-5, "Song 1"),
       (2**63 - 1, "Song 2")]


def old_store(path: Path) -> None:
    """A store at the last version before migration 11 with good and bad plays, folded into
    the scrobbled tracks and the analytics rollups as the service had done (the rollups
    stopped before 2**63 - 1: no calendar holds it)."""
    engine = create_store_engine(f"sqlite:///{path}")
    migrate(engine, target=10)
    insert = ("INSERT INTO scrobbles (user, uts, artist, title, album, source, added_at)"
              " VALUES ('alice', ?, 'Band', ?, 'Record', 'lastfm', 0)")
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(GOOD), "lastfm")
        conn.exec_driver_sql(insert, BAD[:3])
        tracks.fold_new_scrobbles(conn)
    refresh(engine, UTC, GenreRules.build())
    with engine.begin() as conn:
        conn.exec_driver_sql(insert, BAD[3:])
        tracks.fold_new_scrobbles(conn)
    engine.dispose()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plexfm_only(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
    monkeypatch.setenv("PLEXFM_ANALYTICS_TIMEZONE", "UTC")
    monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    old_store(tmp_path / "data" / "plexfm.db")
    return tmp_path


def test_status_stats_and_export_work_again_and_count_the_plays_left(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "quarantine: 4 scrobbles" in out
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["scrobbles"], status["quarantined"]) == (len(GOOD), len(BAD))
    assert status["last_scrobble"] == GOOD[-2].uts
    assert main(["stats", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert (summary["plays"], summary["undated_plays"]) == (len(GOOD) - 1, 1)
    for form in ("csv", "ndjson", "parquet"):
        assert main(["export", "--format", form, str(env / f"plays.{form}")]) == 0
    lines = (env / "plays.ndjson").read_text().splitlines()
    assert sorted(json.loads(line)["uts"] for line in lines) == sorted(s.uts for s in GOOD)


def test_history_and_analytics_pages_work_again(env: Path) -> None:
    config = load_config(None, environ=dict(os.environ))
    engine = open_store(config.store_url)
    try:
        app = create_app(WebDeps(engine=engine, health=lambda: evaluate(engine, []),
                                 users=("alice",),
                                 analytics=AnalyticsSettings.from_config(config)))
        client = app.test_client()
        for path in ("/history", "/api/history", "/analytics", "/api/analytics", "/"):
            assert client.get(path).status_code == 200, path
    finally:
        engine.dispose()


def test_quarantine_keeps_every_bad_play_and_fixes_what_was_derived(env: Path) -> None:
    engine = open_store(f"sqlite:///{env / 'data' / 'plexfm.db'}")
    try:
        check_quarantine(engine)
    finally:
        engine.dispose()


def check_quarantine(engine: Engine) -> None:
    with engine.connect() as conn:
        kept = sorted(tuple(r) for r in conn.exec_driver_sql(
            "SELECT uts, title, reason != '' FROM scrobbles_quarantine"))
        assert kept == sorted((uts, title, 1) for uts, title in BAD)
        tracks_now = {r[0]: tuple(r[1:]) for r in conn.exec_driver_sql(
            "SELECT title, plays, first_uts, last_uts FROM scrobbled_tracks")}
        mapped = conn.exec_driver_sql("SELECT count(*) FROM scrobble_tracks").scalar()
    songs = {title: [s.uts for s in GOOD if s.title == title] for title in
             ("Song 0", "Song 1", "Song 2")}
    assert tracks_now == {
        **{title: (len(uts), min(uts), max(uts)) for title, uts in songs.items()},
        "Only Bad": (0, None, None),
    }
    assert mapped == len(GOOD)
    rules = GenreRules.build()
    counts = refresh(engine, UTC, rules)
    assert counts["folded"] == len(GOOD) - 1  # every dated good play folded again
    with engine.connect() as conn:
        rolled = conn.exec_driver_sql("SELECT sum(plays), max(day) FROM rollup_hourly").one()
    assert rolled[0] == len(GOOD) - 1
    assert rolled[1] < 2100_00_00
