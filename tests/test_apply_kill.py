"""`plexfm apply --now` killed with SIGKILL at random moments, many times.

After every kill Plex's database must be consistent (each track's view_count equals its
history rows: the writer's transaction is all or nothing), and every ledger row must name a
history row that exists. A final apply must then leave exactly native + scrobbled plays.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daemon.plex.library_db import DatabaseLibrary
from daemon.reconcile import jobs as reconcile
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import ledger
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import open_store, write
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import generate_library

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow,
              pytest.mark.reliability("fault", "SIGKILL during an apply, then resume")]


def consistent(db: Path) -> None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        wrong = conn.execute(
            "SELECT s.guid, s.view_count, (SELECT count(*) FROM metadata_item_views v"
            " WHERE v.guid = s.guid AND v.account_id = s.account_id) AS rows"
            " FROM metadata_item_settings s WHERE s.view_count != rows").fetchall()
    finally:
        conn.close()
    assert wrong == []


def ledger_rows_exist(store: Path, db: Path) -> None:
    conn = sqlite3.connect(store)
    conn.execute(f"ATTACH DATABASE 'file:{db}?mode=ro' AS plex")
    try:
        dangling = conn.execute(
            "SELECT count(*) FROM applied_plays a LEFT JOIN plex.metadata_item_views v"
            " ON v.id = a.view_id WHERE v.id IS NULL").fetchone()[0]
    finally:
        conn.close()
    assert dangling == 0


def test_killed_applies_leave_consistent_state(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    library = generate_library(400, seed=12)
    db = tmp_path / "plex.db"
    natives = [(t.id, 1, 1_600_000_000 + i) for i, t in enumerate(library.tracks[:40])]
    build_plex_db(db, library, native_plays=natives)
    data = tmp_path / "data"
    engine = open_store(f"sqlite:///{data / 'plexfm.db'}")
    rng = random.Random(7)
    live = [t for t in library.tracks if t.deleted_at is None]
    plays = []
    for i in range(30_000):
        track = live[rng.randrange(len(live))]
        artist = library.track_artist(track) or library.artist_of(track).title
        plays.append(Scrobble(1_650_000_000 + i * 37, artist, track.title,
                              library.album_of(track).title))
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(plays), "test")
    reconcile.refresh_library(DatabaseLibrary(str(db)), engine)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXFM_")}
    env.update({"PLEXFM_LASTFM_API_KEY": "unused-key", "PLEXFM_LASTFM_USER": "alice",
                "PLEXFM_PLEX_DATABASE": str(db), "PLEXFM_STORE_DATA_DIR": str(data),
                "PLEXFM_LOG_LEVEL": "WARNING"})
    command = [sys.executable, "-m", "daemon", "apply", "--now"]
    revert = [sys.executable, "-m", "daemon", "revert", "--all", "--now"]
    quiet = {"cwd": ROOT, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    started = time.monotonic()  # one full apply, timed, so the kills land inside one
    subprocess.run(command, check=True, **quiet)  # type: ignore[call-overload]
    full = time.monotonic() - started
    subprocess.run(revert, check=True, **quiet)  # type: ignore[call-overload]
    consistent(db)
    kills = 0
    for _ in range(8):
        process = subprocess.Popen(command, **quiet)  # type: ignore[call-overload]
        try:
            process.wait(timeout=rng.uniform(0.3, 0.95) * full)  # a random moment of the apply
            finished = True
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            finished = process.wait() != -signal.SIGKILL  # it may have ended just before
            kills += not finished
        consistent(db)
        ledger_rows_exist(data / "plexfm.db", db)
        if finished:  # it completed: undo everything so the next run writes again
            subprocess.run(revert, check=True, **quiet)  # type: ignore[call-overload]
            consistent(db)
    record_property("reliability_cases", kills)  # each kill is one fault survived (or not)
    assert kills >= 3
    final = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                           check=False)
    assert final.returncode == 0, final.stderr
    consistent(db)
    ledger_rows_exist(data / "plexfm.db", db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        total_views = conn.execute("SELECT count(*) FROM metadata_item_views").fetchone()[0]
    finally:
        conn.close()
    engine = open_store(f"sqlite:///{data / 'plexfm.db'}")
    with engine.connect() as store:
        matched = ledger.matched_play_count(store, ["alice"])
        summary = ledger.summary(store)
    engine.dispose()
    assert matched > 20_000  # most plays are of unambiguous tracks
    assert summary["applied_plays"] == matched  # no native play lies near these scrobbles
    assert total_views == len(natives) + matched  # every play exactly once
