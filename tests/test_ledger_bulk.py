"""The plan computed from the store's columns (`daemon.store.ledger_bulk.plan_inputs`, then
`daemon.apply.plan_columns.compute`, issue 16) gives exactly what the frame version gives
(`daemon.apply.plan.in_time_bound` then `diff`, still used by the crash recovery): the same
candidates, reverts, unremovable rows, forgotten and claimed "already in Plex" records, and
the same out-of-range count, on random small stores where matches move, users are unmapped,
times fall out of range, fingerprints are missing, with one account, several, or none mapped,
and when everything is reverted."""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.apply.plan import diff, in_time_bound
from daemon.apply.plan_columns import compute
from daemon.store import ledger, ledger_bulk
from daemon.store.engine import bulk_cache, open_store, write
from daemon.store.ledger_bulk import plan_inputs, stale_rows
from tests.plan_stores import ACCOUNTS, MAPPINGS, NOW, fill, stores


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
            fill(path, rows)
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


def test_a_large_write_rebuilds_the_ledgers_index_in_its_transaction(tmp_path: Path) -> None:
    """At least REBUILD_MIN_ROWS rows, and as many as the ledger holds: the rating key index is
    dropped for the insert and built again before the commit; a reader never misses it."""
    import numpy as np

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    index = "SELECT sql FROM sqlite_master WHERE name = 'ix_applied_plays_rating_key'"
    try:
        with engine.connect() as conn:
            ddl = conn.exec_driver_sql(index).scalar()
        assert ddl
        columns = [np.array(c, dtype=np.int64) for c in
                   ([1, 2, 3], [100, 101, 100], [7, 8, 9], [50, 60, 70])]
        with patch.object(ledger_bulk, "REBUILD_MIN_ROWS", 2), \
                patch.object(ledger_bulk, "set_aside", wraps=ledger_bulk.set_aside) as aside:
            for batch, sids in ((1, [1, 2, 3]), (2, [4]), (3, [5, 6])):
                columns[0] = np.array(sids, dtype=np.int64)
                with write(engine) as conn:
                    ledger_bulk.record_written(conn, batch, 1, [c[:len(sids)] for c in columns],
                                               {100: "g100", 101: "g101"})
                    assert conn.exec_driver_sql(index).scalar() == ddl
                with engine.connect() as reader:
                    assert reader.exec_driver_sql(index).scalar() == ddl
            assert aside.call_count == 1  # 3 rows into none; not 1 into 3, nor 2 into 4
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT scrobble_id, rating_key FROM applied_plays"
                                        " INDEXED BY ix_applied_plays_rating_key WHERE"
                                        " rating_key = 100 ORDER BY scrobble_id").all()
        assert [tuple(r) for r in rows] == [(1, 100), (3, 100), (4, 100), (5, 100)]
    finally:
        engine.dispose()
