"""`plexfm run` as a subprocess against the loopback fakes: the whole service, for real.

Every daemon is started through the `daemons` fixture, which stops (then kills) it whatever
happens to the test and prints its log, which pytest shows when the test fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.history_gen import generate_history
from tests.fakes.lastfm_server import DEFAULT_API_KEY, FakeLastfm
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import generate_library

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached before the deadline: {what}")
        time.sleep(0.05)


class Daemon:
    def __init__(self, fake: FakeLastfm, tmp: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        library = generate_library(300, seed=2)
        plex_db = tmp / "plex.db"
        build_plex_db(plex_db, library)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXFM_")}
        self.env.update({
            "PLEXFM_LASTFM_API_KEY": DEFAULT_API_KEY, "PLEXFM_LASTFM_USER": "alice",
            "PLEXFM_LASTFM_API_URL": fake.url, "PLEXFM_LASTFM_REQUESTS_PER_SECOND": "200",
            "PLEXFM_LASTFM_MAX_RETRIES": "1", "PLEXFM_LASTFM_TIMEOUT_SECONDS": "5",
            "PLEXFM_PLEX_DATABASE": str(plex_db), "PLEXFM_STORE_DATA_DIR": str(tmp / "data"),
            "PLEXFM_WEB_PORT": str(self.port), "PLEXFM_SCHEDULE_PULL_MINUTES": "0.02",
            "PLEXFM_SCHEDULE_RETRY_BUDGET": "2", **settings,
        })
        self.log = tmp / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "daemon", "run"], cwd=ROOT,
                                            env=self.env, stdout=log, stderr=log)

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            response = requests.get(f"{self.url}/healthz", timeout=5)
        except requests.ConnectionError:
            return 0, {}
        return response.status_code, response.json()

    def status(self) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "daemon", "status", "--json"], cwd=ROOT,
                             env=self.env, capture_output=True, text=True, timeout=60,
                             check=False)
        if out.returncode != 0:
            pytest.fail(f"plexfm status exited {out.returncode}: {out.stderr.strip()}")
        return dict(json.loads(out.stdout))

    def stop(self) -> tuple[int, float]:
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        return code, time.monotonic() - started

    def end(self) -> None:
        """Whatever happened: stop the process (kill it if SIGTERM is not enough)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


DaemonFactory = Callable[..., Daemon]


@pytest.fixture
def daemons() -> Iterator[DaemonFactory]:
    started: list[Daemon] = []

    def make(fake: FakeLastfm, tmp: Path, **settings: str) -> Daemon:
        daemon = Daemon(fake, tmp, **settings)
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.end()
        if daemon.log.exists():  # shown by pytest only when the test failed
            print(f"--- log of plexfm run ({daemon.log}) ---")
            print(daemon.log.read_text(errors="replace"))


@pytest.fixture
def fake() -> Iterator[FakeLastfm]:
    server = FakeLastfm(seed=3)
    server.add_user("alice", generate_history(5_000, seed=31))
    with server:
        yield server


def test_daemon_backfills_matches_serves_health_and_stops(fake: FakeLastfm, tmp_path: Path,
                                                          daemons: DaemonFactory) -> None:
    daemon = daemons(fake, tmp_path)
    daemon.start()
    try:
        until(lambda: daemon.health()[0] == 200, what="/healthz 200")
        until(lambda: daemon.status()["backfill_complete"], what="backfill")
        until(lambda: daemon.status()["library_tracks"] > 0, what="library mirror")
        until(lambda: daemon.status()["queued"] + daemon.status()["matched"] > 0,
              what="matching")
        status = daemon.status()
        assert status["scrobbles"] == len(fake.scrobbles("alice"))
        metrics = requests.get(f"{daemon.url}/metrics", timeout=5).text
        assert f"plexfm_scrobbles {float(status['scrobbles'])}" in metrics
    finally:
        code, seconds = daemon.stop()
    assert code == 0
    assert seconds < 10
    log = daemon.log.read_text()
    assert DEFAULT_API_KEY not in log
    assert "Traceback" not in log


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_upstream_outage_turns_health_503_then_recovers(fake: FakeLastfm, tmp_path: Path,
                                                        daemons: DaemonFactory) -> None:
    daemon = daemons(fake, tmp_path)
    daemon.start()
    try:
        until(lambda: daemon.status()["backfill_complete"], what="backfill")
        outage = fake.faults.add("http503", count=1_000_000)
        until(lambda: daemon.health()[0] == 503, what="/healthz 503 during the outage")
        code, body = daemon.health()
        assert any(reason.startswith("pull: failed") and "503" in reason
                   for reason in body["reasons"]), body
        assert outage.fired >= 2
        fake.faults.clear()
        until(lambda: daemon.health()[0] == 200, what="/healthz 200 after recovery")
    finally:
        code, _seconds = daemon.stop()
    assert code == 0
    log = daemon.log.read_text()
    assert log.count("job pull failed") == 1  # logged once when it started failing
    assert log.count("job pull recovered") == 1


@pytest.mark.reliability("fault", "SIGTERM during a run")
def test_sigterm_during_a_long_backfill_exits_promptly(tmp_path: Path,
                                                      daemons: DaemonFactory) -> None:
    server = FakeLastfm(seed=4, latency=0.3)
    server.add_user("alice", generate_history(60_000, seed=32))
    with server:
        daemon = daemons(server, tmp_path, PLEXFM_LASTFM_PAGE_SIZE="200",
                         PLEXFM_LASTFM_REQUESTS_PER_SECOND="5")
        daemon.start()
        until(lambda: len(server.requests) >= 5, what="backfill under way")
        code, seconds = daemon.stop()
        assert code == 0
        assert seconds < 10
        status = daemon.status()
    assert status["backfill_complete"] is False
    assert status["jobs"]["pull"]["outcome"] == "cancelled"


def _applied_and_running(store: Path) -> bool:
    import sqlite3

    if not store.exists():
        return False
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        running = conn.execute("SELECT count(*) FROM job_runs WHERE job = 'apply' AND"
                               " outcome = 'running'").fetchone()[0]
        applied = conn.execute("SELECT count(*) FROM applied_plays").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return False
    finally:
        conn.close()
    return bool(running and applied)


def _open_window() -> str:
    from datetime import datetime, timedelta

    start = datetime.now().astimezone() - timedelta(minutes=1)
    return f"{start:%H:%M}-{start + timedelta(hours=2):%H:%M}"


def _library_history(library: Any, count: int, seed: int) -> list[Any]:
    import random

    from daemon.scrobble import Scrobble

    rng = random.Random(seed)
    live = [t for t in library.tracks if t.deleted_at is None]
    now = int(time.time())
    plays = []
    for i in range(count):
        track = live[rng.randrange(len(live))]
        artist = library.track_artist(track) or library.artist_of(track).title
        plays.append(Scrobble(now - 86_400 * 300 + i * 60, artist, track.title,
                              library.album_of(track).title))
    return sorted(plays, key=lambda s: -s.uts)


@pytest.mark.reliability("fault", "SIGTERM during a run")
def test_daemon_applies_inside_the_window_and_stops_cleanly_mid_apply(
        tmp_path: Path, daemons: DaemonFactory) -> None:
    library = generate_library(300, seed=2)  # the same library Daemon builds
    server = FakeLastfm(seed=6)
    server.add_user("alice", _library_history(library, 40_000, seed=33))
    with server:
        daemon = daemons(server, tmp_path, PLEXFM_APPLY_MODE="live",
                         PLEXFM_APPLY_WINDOW=_open_window(), PLEXFM_APPLY_LIVE_BATCH_SIZE="50",
                         PLEXFM_SCHEDULE_PULL_MINUTES="60")
        daemon.start()
        store = tmp_path / "data" / "plexfm.db"
        until(lambda: _applied_and_running(store), timeout=120,
              what="an apply running with plays already written")
        code, seconds = daemon.stop()
        assert code == 0
        assert seconds < 10
        status = daemon.status()
    assert status["applied_plays"] > 0
    assert status["pending_plays"] > 0  # stopped between two short transactions
    assert status["jobs"]["apply"]["outcome"] == "cancelled"
    import sqlite3

    plex = sqlite3.connect(f"file:{tmp_path / 'plex.db'}?mode=ro", uri=True)
    try:
        views = plex.execute("SELECT count(*) FROM metadata_item_views").fetchone()[0]
        wrong = plex.execute(
            "SELECT count(*) FROM metadata_item_settings s WHERE s.view_count != (SELECT"
            " count(*) FROM metadata_item_views v WHERE v.guid = s.guid AND v.account_id ="
            " s.account_id)").fetchone()[0]
    finally:
        plex.close()
    assert views == status["applied_plays"]  # the fixture has no native plays
    assert wrong == 0


@pytest.mark.reliability("fault", "store file deleted or replaced while running")
def test_a_store_deleted_while_running_turns_health_503_and_is_never_recreated(
        fake: FakeLastfm, tmp_path: Path, daemons: DaemonFactory) -> None:
    import sqlite3

    daemon = daemons(fake, tmp_path)
    daemon.start()
    until(lambda: daemon.status()["backfill_complete"], what="backfill")
    until(lambda: daemon.health()[0] == 200, what="/healthz 200")
    store = tmp_path / "data" / "plexfm.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    until(lambda: daemon.health()[0] == 503, what="/healthz 503 once the store is gone")
    reasons = daemon.health()[1]["reasons"]
    assert reasons == [f"store: the store file {store} was deleted while plexfm runs"]
    until(lambda: "job pull failed: the store file" in daemon.log.read_text(),
          what="the next pull refused")
    assert not store.exists()  # nothing created an empty store in its place
    [rescued] = store.parent.glob("plexfm.db.rescued-*")
    copy = sqlite3.connect(f"file:{rescued}?mode=ro", uri=True)
    try:
        assert copy.execute("SELECT count(*) FROM scrobbles").fetchone()[0] == \
            len(fake.scrobbles("alice"))
    finally:
        copy.close()
    code, _seconds = daemon.stop()
    assert code == 0
    assert "Traceback" not in daemon.log.read_text()
