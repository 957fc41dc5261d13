"""The service's match job in a worker process: same result as in-process, stoppable."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.errors import JobCancelledError
from daemon.plex.library_db import DatabaseLibrary
from daemon.reconcile import jobs as reconcile
from daemon.reconcile.worker import match_in_worker
from daemon.stopping import StopToken
from daemon.store import matches
from daemon.store.engine import write
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
