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


def test_library_frame_flags_compilations_by_album_artist_and_mixed_artists(
    engine: Engine,
) -> None:
    rows = [  # rating_key, album_artist, track_artist, album_rating_key
        (1, "Various Artists", "", 10), (2, "VARIOUS ARTISTS", "", 11),
        (3, "Vários Artistas", "", 12), (4, "VA", "", 13), (5, "Queen", "", 14),
        (6, "Queen", "Queen", 15),
        (7, "Queen", "Queen & David Bowie", 16), (8, "Queen", "David Bowie", 16),
        (9, "Various", "x", 17), (10, "Variously", "", 18),
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO library_tracks (rating_key, section_id, title, album_artist,"
            " track_artist, album_rating_key, refreshed_at) VALUES (?, 1, 'T', ?, ?, ?, 0)", rows)
        frame = frames.library_frame(conn)
    flagged = dict(zip(frame["rating_key"].tolist(), frame["is_compilation"].tolist(),
                       strict=True))
    assert flagged == {1: True, 2: True, 3: True, 4: True, 5: False, 6: False, 7: True,
                       8: True, 9: True, 10: False}
