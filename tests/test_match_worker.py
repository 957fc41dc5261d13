"""The service's match job in a worker process: same result as in-process, stoppable."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.errors import JobCancelledError, PlexfmError
from daemon.plex.library_db import DatabaseLibrary
from daemon.reconcile import jobs as reconcile
from daemon.reconcile.worker import match_in_worker
from daemon.stopping import StopToken
from daemon.store import matches
from daemon.store.engine import open_store, store_file, write
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import generate_library
from tests.library_plays import scrobble, unambiguous

LIBRARY = generate_library(200, seed=3)


def prepared_store(tmp_path: Path, engine: Engine) -> list[object]:
    from daemon.scrobble import with_ordinals
    from daemon.store import scrobbles as scrobble_queries

    db = tmp_path / "plex.db"
    build_plex_db(db, LIBRARY)
    reconcile.refresh_library(DatabaseLibrary(str(db)), engine)
    tracks = unambiguous(LIBRARY, 8)
    with write(engine) as conn:
        scrobble_queries.insert_rows(
            conn, "alice", with_ordinals([scrobble(LIBRARY, t, 1_600_000_000 + i)
                                          for i, t in enumerate(tracks)]), "test")
    return list(tracks)


def test_the_worker_decides_like_the_job_in_process(tmp_path: Path, engine: Engine,
                                                    store_url: str) -> None:
    tracks = prepared_store(tmp_path, engine)
    counts = match_in_worker(store_url)
    assert counts["matched"] == len(tracks)
    assert counts["auto"] == len(tracks)
    with engine.connect() as conn:
        assert matches.status_counts(conn)["auto"] == len(tracks)


def test_a_stop_ends_the_worker_at_once(tmp_path: Path, engine: Engine, store_url: str) -> None:
    prepared_store(tmp_path, engine)
    stop = StopToken()
    threading.Timer(0.05, stop.stop).start()
    with pytest.raises(JobCancelledError):
        match_in_worker(store_url, stop=stop)


@pytest.mark.reliability("fault", "store file deleted or replaced while running")
def test_the_worker_never_creates_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "data" / "plexfm.db"
    with pytest.raises(PlexfmError, match=f"the store file {missing} does not exist"):
        match_in_worker(f"sqlite:///{missing}")
    assert not missing.exists()
    assert not missing.parent.exists()


@pytest.mark.reliability("fault", "store file deleted or replaced while running")
def test_the_worker_refuses_a_store_other_than_its_services(tmp_path: Path, engine: Engine,
                                                             store_url: str) -> None:
    opened = store_file(engine)
    assert opened is not None
    prepared_store(tmp_path, engine)
    replacement = tmp_path / "replacement.db"
    open_store(f"sqlite:///{replacement}").dispose()
    os.replace(replacement, opened.path)
    with pytest.raises(PlexfmError, match="was replaced by another file"):
        match_in_worker(store_url, expect=opened.identity)
    conn = sqlite3.connect(f"file:{opened.path}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT count(*) FROM matches").fetchone()[0] == 0
    finally:
        conn.close()
