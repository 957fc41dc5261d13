"""The plan computed from the store's columns (`daemon.store.ledger_bulk.plan_inputs`, then
`daemon.apply.plan_columns.compute`, issue 16) gives exactly what the frame version gives
(`daemon.apply.plan.in_time_bound` then `diff`, still used by the crash recovery): the same
candidates, reverts, unremovable rows, forgotten and claimed "already in Plex" records, and
the same out-of-range count, on random small stores where matches move, users are unmapped,
times fall out of range, fingerprints are missing, with one account, several, or none mapped,
and when everything is reverted."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.apply.plan import diff, in_time_bound
from daemon.apply.plan_columns import compute
from daemon.store import ledger, ledger_bulk
from daemon.store.engine import bulk_cache, open_store
from daemon.store.ledger_bulk import plan_inputs, stale_rows

NOW = 1_700_000_000
USERS = ("alice", "bob", "carol")  # carol is not mapped to a Plex account
ACCOUNTS = {"alice": 1, "bob": 2}
# several accounts, one (read as a constant), two users for one account, nobody mapped
MAPPINGS = st.sampled_from([ACCOUNTS, {"bob": 2}, {"alice": 1, "bob": 1}, {}])
KEYS = (100, 101, 102)
TIMES = st.sampled_from([0, 5, NOW - 10, NOW + 86_400, NOW + 86_401])  # bounds included


@st.composite
def stores(draw: st.DrawFn) -> dict[str, list[tuple[object, ...]]]:
    tracks = range(1, 5)
    matched = {t: draw(st.tuples(st.sampled_from(["auto", "manual", "queued", "skipped"]),
                                 st.sampled_from(KEYS))) for t in tracks}
    plays = draw(st.lists(st.tuples(st.sampled_from(tracks), st.sampled_from(USERS), TIMES),
                          max_size=14))
    rows: dict[str, list[tuple[object, ...]]] = {"scrobble_tracks": [], "applied": [],
                                                 "in_plex": []}
    for sid, (track, user, uts) in enumerate(plays, start=1):
        rows["scrobble_tracks"].append((sid, track, user, uts))
    for sid in draw(st.sets(st.integers(1, 16), max_size=10)):  # some have no scrobble
        kind = draw(st.sampled_from(["applied", "applied", "in_plex"]))
        account, key = draw(st.sampled_from([1, 2])), draw(st.sampled_from(KEYS))
        if kind == "in_plex":
            rows["in_plex"].append((sid, account, key, draw(st.integers(1, 9)) * 100))
        else:
            view = draw(st.one_of(st.none(), st.integers(1, 10_000)))
            guid = draw(st.sampled_from([None, "plex://track/x"]))
            rows["applied"].append((sid, account, key, view, guid,
                                    draw(st.sampled_from([None, 123]))))
    rows["matches"] = [(t, status, key) for t, (status, key) in matched.items()]
    return rows


def _fill(path: Path, rows: dict[str, list[tuple[object, ...]]]) -> None:
    conn = sqlite3.connect(path)  # foreign keys off: the tracks' own rows are not needed
    with conn:
        conn.executemany("INSERT INTO scrobble_tracks (scrobble_id, track_id, user, uts)"
                         " VALUES (?, ?, ?, ?)", rows["scrobble_tracks"])
        conn.executemany("INSERT INTO matches (track_id, status, rating_key, decided_at)"
                         " VALUES (?, ?, ?, 0)", rows["matches"])
        conn.executemany("INSERT INTO library_tracks (rating_key, section_id, title,"
                         " duration_ms, refreshed_at) VALUES (?, 1, 't', ?, 0)",
                         [(100, 200_000), (101, None)])  # 102: not in the library
        conn.executemany("INSERT INTO applied_plays (scrobble_id, account_id, rating_key,"
                         " view_id, guid, viewed_at, batch_id, applied_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, 1, 0)", rows["applied"])
        conn.executemany("INSERT INTO plays_in_plex (scrobble_id, account_id, rating_key,"
                         " native_viewed_at, checked_at) VALUES (?, ?, ?, ?, 0)",
                         rows["in_plex"])
    conn.close()


@settings(max_examples=150, deadline=None)
@given(stores(), st.booleans(), MAPPINGS, st.sampled_from([0, 100]))
def test_the_store_plan_equals_the_frame_plan(rows: dict[str, list[tuple[object, ...]]],
                                             revert_all: bool, accounts: dict[str, int],
                                             few: int) -> None:
    """(`few`: durations looked up track by track, or by a scan of the library)"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.db"
        engine = open_store(f"sqlite:///{path}")
        try:
            _fill(path, rows)
            bound = NOW + 86_400
            with engine.connect() as conn:
                desired = ledger.desired_plays(conn, list(accounts))
                applied, known = ledger.applied(conn), ledger.in_plex(conn)
            desired, out_of_range = in_time_bound(desired, NOW)
            if revert_all:
                desired = desired.iloc[0:0]
            want = diff(desired, accounts, applied, known)
            with engine.connect() as conn, bulk_cache(conn), patch.object(
                    ledger_bulk, "FEW_LOOKUPS", few):
                found = compute(plan_inputs(engine, conn, accounts, bound), revert_all)
                assert found.out_of_range == out_of_range
                remove, unremovable, prints = stale_rows(conn, found.stale)
                assert (remove, unremovable) == (want.remove, want.unremovable)
                assert prints == ledger.fingerprints(conn, (r[0] for r in remove))
                assert found.forget_in_plex == sorted(want.forget_in_plex)
                assert found.claimed == want.claimed
                (sids, account_ids, keys, uts), duration = found.candidates, found.duration_ms
        finally:
            engine.dispose()
    expected = want.candidates.sort_values("scrobble_id")
    assert sids.tolist() == expected["scrobble_id"].tolist()
    assert account_ids.tolist() == expected["account_id"].tolist()
    assert keys.tolist() == expected["rating_key"].tolist()
    assert uts.tolist() == expected["uts"].tolist()
    assert duration.tolist() == expected["duration_ms"].tolist() or all(
        a == b or (a != a and b != b) for a, b in zip(
            duration.tolist(), expected["duration_ms"].tolist(), strict=True))


def test_an_in_memory_store_reads_its_ledger_on_the_jobs_connection() -> None:
    """An in-memory store is a database per connection: the ledger read on a helper thread's
    connection would come from an empty database. It is read inline there."""
    engine = open_store("sqlite://")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO applied_plays (scrobble_id, account_id, rating_key, view_id, guid,"
                " viewed_at, batch_id, applied_at) VALUES (7, 1, 100, 5, 'g', 123, 1, 0)")
        with engine.connect() as conn, bulk_cache(conn):
            found = compute(plan_inputs(engine, conn, ACCOUNTS, NOW + 86_400))
            assert found.stale.tolist() == [7]  # no scrobble: no longer desired
            assert stale_rows(conn, found.stale)[0] == [(7, 5, 1)]
    finally:
        engine.dispose()
