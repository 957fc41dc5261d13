"""The store's rows read as frames: the driver's values, each chunk's equal strings shared."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from daemon.reconcile import frames


def test_read_frame_keeps_the_values_and_shares_equal_strings(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frames, "READ_CHUNK_ROWS", 4)
    rows = [(i, ["Song", "Other", None, "Song", "x1"][i % 5], [None, 7][i % 2], None)
            for i in range(11)]
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE t (id INTEGER, title TEXT, n INTEGER, gone TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
        frame = frames.read_frame(conn, "SELECT id, title, n, gone FROM t ORDER BY id")
    assert frame["title"].tolist() == [r[1] for r in rows]
    assert frame["title"].dtype == object
    assert frame["gone"].tolist() == [None] * 11
    assert frame["n"].fillna(0).astype(int).tolist() == [r[2] or 0 for r in rows]
    for start in range(0, 11, 4):  # one object per distinct string within a chunk
        titles = [t for t in frame["title"].iloc[start:start + 4] if t is not None]
        assert len({id(t) for t in titles}) == len(set(titles))
