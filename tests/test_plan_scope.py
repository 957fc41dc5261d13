"""The incremental plan (`daemon.store.plan_scope`, issue 16): after an apply has finished and
saved its basis, the plan read over the scope (new scrobbles, those the change log names,
those of tracks whose match moved, those the apply left unsettled) is exactly the plan read
over the whole history, whatever happened in between; and whenever the basis cannot be
trusted (the ledger or the "already in Plex" records changed outside an apply, other accounts,
a bound that went back) the whole history is read."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from daemon.apply import incremental
from daemon.apply.plan_columns import ColumnPlan, compute
from daemon.store import ledger_bulk, plan_scope
from daemon.store.engine import bulk_cache, open_store, write
from daemon.store.ledger_bulk import stale_rows
from tests.plan_stores import KEYS, MAPPINGS, NOW, USERS, fill, stores

TRACKS = st.integers(1, 5)  # 5: a track with no match row yet
TIMES = st.sampled_from([0, 5, NOW - 10, NOW + 86_400, NOW + 86_401, NOW + 86_500])
OPS = st.one_of(
    st.tuples(st.just("new"), TRACKS, st.sampled_from(USERS), TIMES,
              st.sampled_from([0, 0, 1, 3])),
    st.tuples(st.just("move"), st.integers(1, 20), TRACKS),
    st.tuples(st.just("retime"), st.integers(1, 20), TIMES),
    st.tuples(st.just("reuser"), st.integers(1, 20), st.sampled_from(USERS)),
    st.tuples(st.just("delete"), st.integers(1, 20)),
    st.tuples(st.just("remap"), st.integers(1, 20), TRACKS),  # the fold's upsert
    st.tuples(st.just("match"), TRACKS, st.sampled_from(["auto", "manual", "queued", "gone"]),
              st.sampled_from(KEYS)),
    st.tuples(st.just("later"), st.sampled_from([0, 1, 100])),
    st.tuples(st.just("settle"), st.integers(0, 2**16)),
    st.tuples(st.just("forget_applied"), st.integers(1, 20)),
    st.tuples(st.just("forget_in_plex"), st.integers(1, 20)),
)


class World:
    """A store and the apply's view of it: accounts, bound, what changed since the basis."""

    def __init__(self, engine: Engine, accounts: dict[str, int]) -> None:
        self.engine, self.accounts, self.bound = engine, accounts, float(NOW + 86_400)
        self.untrusted = True  # no basis yet
        with write(engine) as conn:  # the tracks a match refers to
            conn.exec_driver_sql("INSERT INTO scrobbled_tracks (id, artist, title) SELECT"
                                 " value, 'a', 't' || value FROM json_each('[1, 2, 3, 4, 5]')")

    def plans(self) -> tuple[ColumnPlan, ColumnPlan | None]:
        """(the plan over the whole history, the plan over the scope or None)."""
        with self.engine.connect() as conn, bulk_cache(conn):
            whole = compute(ledger_bulk.plan_inputs(self.engine, conn, self.accounts,
                                                    self.bound))
            scoped, _reading = plan_scope.inputs(self.engine, conn, self.accounts, self.bound)
            if scoped is None:
                return whole, None
            plan = compute(scoped)
            # the stale rows' fingerprints, from the rows the scope read: as read by id
            assert scoped.stale_rows is not None
            assert scoped.stale_rows(plan.stale) == stale_rows(conn, plan.stale)
            return whole, plan

    def settle(self, seed: int) -> None:
        """An apply that finishes: stale rows removed (when removable), candidates written or
        found in Plex (by `seed`), records no longer held forgotten, the basis saved."""
        with self.engine.connect() as conn, bulk_cache(conn):
            inputs, reading = incremental.read_inputs(self.engine, conn, self.accounts,
                                                      self.bound, False)
            plan = compute(inputs)
            remove, _unremovable, _prints = stale_rows(conn, plan.stale)
        sids, accounts, keys, uts = (c.tolist() for c in plan.candidates)
        plays = list(zip(sids, accounts, keys, uts, strict=True))
        found = [(seed >> (i % 16)) & 1 == 1 for i in range(len(plays))]
        written = [p for p, f in zip(plays, found, strict=True) if not f]
        already = [p for p, f in zip(plays, found, strict=True) if f]
        with write(self.engine) as conn:
            conn.exec_driver_sql("DELETE FROM applied_plays WHERE scrobble_id IN"
                                 f" ({', '.join(str(r[0]) for r in remove) or 'NULL'})")
            conn.exec_driver_sql("DELETE FROM plays_in_plex WHERE scrobble_id IN"
                                 f" ({', '.join(map(str, plan.forget_in_plex)) or 'NULL'})")
            raw = conn.connection.driver_connection
            raw.executemany(  # type: ignore[union-attr]
                "INSERT OR REPLACE INTO applied_plays (scrobble_id, account_id, rating_key,"
                " view_id, guid, viewed_at, batch_id, applied_at) VALUES (?, ?, ?, ?, ?, ?,"
                " 1, 0)", [(s, a, k, 1000 + s, f"plex://track/{k}", t)
                           for s, a, k, t in written])
            raw.executemany(  # type: ignore[union-attr]
                "INSERT OR REPLACE INTO plays_in_plex (scrobble_id, account_id, rating_key,"
                " native_viewed_at, checked_at) VALUES (?, ?, ?, ?, 0)", already)
            incremental.save(conn, incremental.pending(
                reading, plan, np.array([r[0] for r in written], dtype=np.int64), already))
        self.untrusted = False

    def change(self, op: tuple[Any, ...]) -> None:
        kind, *args = op
        if kind == "settle":
            self.settle(args[0])
            return
        if kind == "later":
            self.bound += args[0]
            return
        with write(self.engine) as conn:
            run = conn.exec_driver_sql
            top = run("SELECT coalesce(max(scrobble_id), 0) FROM scrobble_tracks").scalar()
            if kind == "new":  # (next to the highest, or at an id with a ledger row)
                track, user, uts, gap = args
                run("INSERT INTO scrobble_tracks VALUES (?, ?, ?, ?)",
                    (int(top) + 1 + gap, track, user, uts))
            elif kind == "move":
                run("UPDATE scrobble_tracks SET track_id = ? WHERE scrobble_id = ?",
                    (args[1], args[0]))
            elif kind == "retime":
                run("UPDATE scrobble_tracks SET uts = ? WHERE scrobble_id = ?",
                    (args[1], args[0]))
            elif kind == "reuser":
                run("UPDATE scrobble_tracks SET user = ? WHERE scrobble_id = ?",
                    (args[1], args[0]))
            elif kind == "delete":
                run("DELETE FROM scrobble_tracks WHERE scrobble_id = ?", (args[0],))
            elif kind == "remap":
                run("INSERT INTO scrobble_tracks SELECT scrobble_id, ?, user, uts FROM"
                    " scrobble_tracks WHERE scrobble_id = ? ON CONFLICT (scrobble_id) DO"
                    " UPDATE SET track_id = excluded.track_id", (args[1], args[0]))
            elif kind == "match":
                track, status, key = args
                if status == "gone":
                    run("DELETE FROM matches WHERE track_id = ?", (track,))
                else:
                    run("INSERT OR REPLACE INTO matches (track_id, status, rating_key,"
                        " decided_at) VALUES (?, ?, ?, 0)", (track, status, key))
            elif kind in ("forget_applied", "forget_in_plex"):
                table = "applied_plays" if kind == "forget_applied" else "plays_in_plex"
                if run(f"DELETE FROM {table} WHERE scrobble_id = ?", (args[0],)).rowcount:
                    self.untrusted = True  # outside an apply: the sums no longer hold


def same(whole: ColumnPlan, scoped: ColumnPlan) -> None:
    for a, b in zip(whole.candidates, scoped.candidates, strict=True):
        assert a.tolist() == b.tolist()
    assert np.array_equal(whole.duration_ms, scoped.duration_ms, equal_nan=True)
    assert whole.stale.tolist() == scoped.stale.tolist()
    assert whole.forget_in_plex == scoped.forget_in_plex
    assert whole.claimed == scoped.claimed
    assert whole.out_of_range == scoped.out_of_range


@pytest.fixture
def small_scope_share() -> Any:
    with patch.object(plan_scope, "SCOPE_SHARE", 100.0):  # tiny stores: any scope is "small"
        yield


@settings(max_examples=200, deadline=None)
@given(stores(), MAPPINGS, st.lists(OPS, max_size=12))
def test_the_scoped_plan_equals_the_whole_plan(rows: dict[str, list[tuple[object, ...]]],
                                               accounts: dict[str, int],
                                               ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, \
            patch.object(plan_scope, "SCOPE_SHARE", 100.0):
        path = Path(tmp) / "store.db"
        engine = open_store(f"sqlite:///{path}")
        try:
            fill(path, rows)
            world = World(engine, accounts)
            world.settle(0)
            for op in ops:
                world.change(op)
                whole, scoped = world.plans()
                if world.untrusted:
                    assert scoped is None
                else:
                    assert scoped is not None
                    same(whole, scoped)
        finally:
            engine.dispose()


def _world(tmp_path: Path) -> World:
    path = tmp_path / "store.db"
    engine = open_store(f"sqlite:///{path}")
    plays = [(sid, 1 + sid % 4, "alice", NOW - sid) for sid in range(1, 41)]
    fill(path, {"scrobble_tracks": plays, "applied": [], "in_plex": [],
                "matches": [(t, "auto", KEYS[t % 3]) for t in range(1, 5)]})
    world = World(engine, {"alice": 1})
    world.settle(0)
    return world


def test_an_unmatched_track_is_read_through_the_scope_and_reverted(
        tmp_path: Path, small_scope_share: Any, caplog: pytest.LogCaptureFixture) -> None:
    world = _world(tmp_path)
    try:
        world.change(("match", 2, "queued", 100))
        with world.engine.connect() as conn:
            scoped, reading = plan_scope.inputs(world.engine, conn, world.accounts, world.bound)
        assert scoped is not None
        assert reading.scoped == 10  # the track's ten scrobbles, nothing else
        whole, plan = world.plans()
        assert plan is not None
        same(whole, plan)
        assert plan.stale.tolist() == [s for s in range(1, 41) if 1 + s % 4 == 2]
        caplog.set_level(logging.INFO, logger="daemon.apply.incremental")
        world.settle(0)
        assert "the plan reads 10 scrobbles" in caplog.text
        whole, plan = world.plans()
        assert plan is not None
        assert not len(plan.stale)
        assert not len(whole.stale)
    finally:
        world.engine.dispose()


@pytest.mark.parametrize("change", ["ledger", "in_plex", "accounts", "bound", "share"])
def test_a_basis_that_does_not_hold_reads_the_whole_history(tmp_path: Path, change: str) -> None:
    world = _world(tmp_path)
    try:
        world.change(("settle", 0xFFFF))  # nothing left to write: only the basis is new
        if change == "ledger":
            with write(world.engine) as conn:
                conn.exec_driver_sql("UPDATE applied_plays SET rating_key = 101 WHERE"
                                     " scrobble_id = 5")
        elif change == "in_plex":
            with write(world.engine) as conn:
                conn.exec_driver_sql("INSERT INTO plays_in_plex VALUES (7, 1, 100, 5, 0)")
        elif change == "accounts":
            world.accounts = {"alice": 2}
        elif change == "bound":
            world.bound -= 1
        else:  # every scrobble moved: reading them one by one costs more than a scan
            world.change(("match", 1, "queued", 100))
            world.change(("match", 3, "queued", 100))
        with world.engine.connect() as conn:
            scoped, reading = plan_scope.inputs(world.engine, conn, world.accounts, world.bound)
        assert scoped is None
        assert reading.scoped is None
        with world.engine.connect() as conn:
            unchanged, _ = plan_scope.inputs(world.engine, conn, {"alice": 1}, NOW + 86_400.0)
        assert (unchanged is None) == (change != "accounts" and change != "bound")
    finally:
        world.engine.dispose()


def test_the_fold_logs_a_scrobble_it_maps_again(tmp_path: Path) -> None:
    """The fold's map of an id mapped before goes through the upsert, whose UPDATE the
    change log sees (an INSERT OR REPLACE would delete and insert with no trigger)."""
    from daemon.store import counters, tracks

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with write(engine) as conn:
            conn.exec_driver_sql(
                "INSERT INTO scrobbles (id, user, uts, artist, title, album, source, added_at)"
                " VALUES (1, 'alice', 5, 'A', 'T', 'Al', 'lastfm', 0)")
            tracks.fold_new_scrobbles(conn)
            before = conn.exec_driver_sql("SELECT count(*) FROM plan_changes").scalar()
            counters.put(conn, tracks.FOLDED_THROUGH, 0)  # a fold over the same ids again
            tracks.fold_new_scrobbles(conn)
            logged = conn.exec_driver_sql("SELECT scrobble_id FROM plan_changes").scalars()
            assert (before, list(logged)) == (0, [1])
    finally:
        engine.dispose()


def test_the_change_log_keeps_what_came_after_the_plan(tmp_path: Path) -> None:
    """Saving the basis drops only the changes its plan read; one logged after stays."""
    world = _world(tmp_path)
    try:
        with world.engine.connect() as conn, bulk_cache(conn):
            inputs, reading = incremental.read_inputs(world.engine, conn, world.accounts,
                                                      world.bound, False)
            plan = compute(inputs)
        world.change(("move", 3, 2))  # committed after the plan was read
        with write(world.engine) as conn:
            incremental.save(conn, incremental.pending(reading, plan, plan.candidates[0], []))
            left = conn.exec_driver_sql("SELECT scrobble_id FROM plan_changes").scalars()
            assert list(left) == [3]
    finally:
        world.engine.dispose()



def test_an_in_memory_store_checks_its_basis_on_the_plans_connection(
        small_scope_share: Any) -> None:
    """A database per connection: the sums are read inline there (a helper thread's
    connection would see an empty store, whose sums never match)."""
    engine = open_store("sqlite://")
    try:
        world = World(engine, {"alice": 1})
        with write(engine) as conn:
            conn.exec_driver_sql("INSERT INTO scrobble_tracks VALUES (1, 1, 'alice', 5)")
            conn.exec_driver_sql("INSERT INTO matches (track_id, status, rating_key,"
                                 " decided_at) VALUES (1, 'auto', 100, 0)")
        world.settle(0)
        whole, scoped = world.plans()
        assert scoped is not None
        same(whole, scoped)
        world.change(("forget_applied", 1))
        assert world.plans()[1] is None
    finally:
        engine.dispose()


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(1, 30), st.integers(1, 4)),
       st.dictionaries(st.integers(1, 30), st.integers(1, 4)))
def test_the_tracks_whose_match_moved(before: dict[int, int], now: dict[int, int]) -> None:
    """Dense track ids (two tables) and sparse ones (set operations) give the same tracks."""
    def columns(matched: dict[int, int], scale: int) -> list[np.ndarray]:
        ids = sorted(matched)
        return [np.array(ids, dtype=np.int64) * scale,
                np.array([matched[i] for i in ids], dtype=np.int64)]

    want = sorted(t for t in before.keys() | now.keys() if before.get(t) != now.get(t))
    for scale in (1, 10**9):
        found = plan_scope._changed_tracks(columns(before, scale), columns(now, scale))
        assert found.tolist() == [t * scale for t in want]


def test_no_basis_when_a_play_to_write_was_neither_written_nor_found(tmp_path: Path) -> None:
    world = _world(tmp_path)
    try:
        world.change(("new", 1, "alice", NOW - 1, 0))
        with world.engine.connect() as conn, bulk_cache(conn):
            inputs, reading = incremental.read_inputs(world.engine, conn, world.accounts,
                                                      world.bound, False)
            plan = compute(inputs)
        assert len(plan.candidates[0]) == 1
        assert incremental.pending(reading, plan, plan.candidates[0][:0], []) is None
        assert incremental.pending(reading, plan, plan.candidates[0], []) is not None
    finally:
        world.engine.dispose()


def test_sorted_unique() -> None:
    values = np.array([5, 3, 5, 1, 3, 9], dtype=np.int64)
    assert plan_scope.sorted_unique(values).tolist() == [1, 3, 5, 9]
    assert plan_scope.sorted_unique(values[:1]).tolist() == [5]
    assert plan_scope.sorted_unique(values[:0]).tolist() == []


def test_stale_rows_outside_the_rows_read_are_looked_up(tmp_path: Path,
                                                        small_scope_share: Any) -> None:
    world = _world(tmp_path)
    try:
        world.change(("match", 2, "queued", 100))
        with world.engine.connect() as conn:
            scoped, _reading = plan_scope.inputs(world.engine, conn, world.accounts,
                                                 world.bound)
            assert scoped is not None
            assert scoped.stale_rows is not None
            outside = np.array([1], dtype=np.int64)  # track 1's: not in the scope
            assert scoped.stale_rows(outside) == stale_rows(conn, outside)
            assert scoped.stale_rows(outside)[0] == [(1, 1001, 1)]
    finally:
        world.engine.dispose()
