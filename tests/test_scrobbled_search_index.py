"""The scrobbled tracks' search index (external content since migration 17) stays sound.

FTS5's 'integrity-check' of an external-content table compares the index with the rows of
scrobbled_tracks: a row indexed twice, or forgotten, or indexed under other text, fails it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tracks
from daemon.store.engine import create_store_engine, open_store
from daemon.store.migrations import migrate


def _add(engine: Engine, user: str, plays: list[Scrobble]) -> int:
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, user, with_ordinals(plays), "x")
        return tracks.fold_new_scrobbles(conn)


def _found(engine: Engine, query: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(str(a) for a, in conn.exec_driver_sql(
            "SELECT t.artist FROM scrobbled_tracks t WHERE t.id IN"
            " (SELECT rowid FROM scrobbled_fts WHERE scrobbled_fts MATCH ?)", (query,)))


def _sound(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO scrobbled_fts (scrobbled_fts) VALUES ('integrity-check')")


def test_large_and_small_folds_keep_the_index_sound(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(engine, "alice", [Scrobble(100, "Old Band", "First Song", "Al")])
    _sound(engine)
    monkeypatch.setattr(tracks, "REBUILD_MIN_ROWS", 3)  # the fold sets the trigger aside
    assert _add(engine, "alice", [Scrobble(200 + i, f"Band{i % 3}", f"Song{i % 3}", "Al")
                                  for i in range(6)]
                + [Scrobble(300, "Old Band", "First Song", "Al")]) == 7
    _sound(engine)
    assert _found(engine, "band*") == ["Band0", "Band1", "Band2", "Old Band"]
    monkeypatch.setattr(tracks, "REBUILD_MIN_ROWS", 100_000)  # by the trigger again
    _add(engine, "bob", [Scrobble(400, "Later Band", "Song", ""),
                         Scrobble(401, "Old Band", "First Song", "Al")])
    _sound(engine)
    assert _found(engine, "later") == ["Later Band"]
    assert _found(engine, "first song") == ["Old Band"]


def test_an_older_store_gets_the_external_index_with_its_tracks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_store_engine(url)
    migrate(old, target=16)
    _add(old, "alice", [Scrobble(100, "Björk", "Jóga", "Homogenic"),
                        Scrobble(101, "Other", "Song", "")])  # through the old trigger
    old.dispose()
    engine = open_store(url)
    try:
        assert _found(engine, "bjork") == ["Björk"]
        assert _found(engine, "jog*") == ["Björk"]
        _sound(engine)
        with engine.connect() as conn:  # 8 MiB of pending terms per index flush
            assert conn.exec_driver_sql("SELECT v FROM scrobbled_fts_config"
                                        " WHERE k = 'hashsize'").scalar() == 8388608
            assert conn.exec_driver_sql(  # no copy of the text beside the index
                "SELECT count(*) FROM sqlite_master WHERE name = 'scrobbled_fts_content'"
            ).scalar() == 0
        _add(engine, "alice", [Scrobble(200, "New", "Jóga", "")])
        assert _found(engine, "joga") == ["Björk", "New"]
        _sound(engine)
    finally:
        engine.dispose()
