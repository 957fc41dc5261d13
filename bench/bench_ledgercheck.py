"""The ledger reconciliation alone (`daemon.apply.recovery.reconcile`) at ~1M ledger rows.

Every apply and revert first checks each ledger row against Plex's history (is the row we wrote
still there, exactly as written?) and each "already in Plex" record against the native play it
names. This script times that check on the state `bench_apply` leaves after applying 1,000,000
plays: its fixture and store (cached in bench/out/), applied once in a child process and cached
too (bench/out/ledgercheck-*), then copied for each run.

Printed: CPU (`time.process_time`) and wall seconds of `reconcile` (best and worst of
`--repeat`), and the floor, measured on the same copies: a bare `SELECT count(*)` of the ledger
rows joined to their history rows by id (both databases attached to one connection), i.e. the
one B-tree lookup per ledger row any comparison must make. Every native history row of the
fixture is recorded as a play already in Plex (17,824 records; `--no-natives`: none, as in
bench_apply, whose scrobbles never coincide with a native play). Then a sanity pass: 1,000 of our
history rows deleted, 500 rewritten in place (another time), 100 native plays deleted, and the
counts the check reports.

    .venv/bin/python -m bench.bench_ledgercheck [--repeat 5] [--no-natives]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import time as dt_time
from pathlib import Path

from bench.bench_apply import _copy_db, fixture, prepared_store
from bench.bench_library import OUT
from bench.fakeproc import ROOT
from daemon.apply.job import Applier, ApplySettings
from daemon.apply.recovery import reconcile
from daemon.store.engine import open_store


def _names(tracks: int, plays: int, seed: int) -> tuple[Path, Path]:
    stem = f"ledgercheck-{tracks}-{plays}-s{seed}"
    return OUT / f"{stem}-plex.db", OUT / f"{stem}-store.db"


def prepare(tracks: int, plays: int, seed: int) -> None:
    """Apply the bench store's plays to a copy of the fixture once (run in a child process)."""
    plex, store = _names(tracks, plays, seed)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        db, st = work / "com.plexapp.plugins.library.db", work / "store.db"
        _copy_db(fixture(tracks, seed), db)
        _copy_db(prepared_store(tracks, plays, seed), st)
        engine = open_store(f"sqlite:///{st}")
        settings = ApplySettings(
            database=db, mode="offline", window=(dt_time(4), dt_time(5)),
            accounts={"bench": 1}, slack_seconds=300, backup_dir=work / "backups",
            backups_keep=1, lock_path=work / "apply.lock")
        counts = Applier(engine, settings).run(force_window=True)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        print(f"prepared: {counts['added']:,} plays applied, {counts['already_in_plex']:,}"
              " already in Plex", flush=True)
        shutil.move(st, store)
        shutil.move(db, plex)


def applied_copies(tracks: int, plays: int, seed: int) -> tuple[Path, Path]:
    plex, store = _names(tracks, plays, seed)
    if not (plex.exists() and store.exists()):
        subprocess.run([sys.executable, "-m", "bench.bench_ledgercheck", "--prepare",
                        "--tracks", str(tracks), "--plays", str(plays), "--seed", str(seed)],
                       cwd=ROOT, check=True)
    return plex, store


def floor(plex: Path, store: Path) -> tuple[float, int]:
    """Seconds of a bare count of the ledger rows joined to their history rows by id."""
    conn = sqlite3.connect(f"{plex.as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("ATTACH ? AS ledger", (f"{store.as_uri()}?mode=ro",))
        started = time.perf_counter()
        n = conn.execute("SELECT count(*) FROM ledger.applied_plays o JOIN"
                         " main.metadata_item_views v ON v.id = o.view_id").fetchone()[0]
        return time.perf_counter() - started, int(n)
    finally:
        conn.close()


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _disturb(plex: Path) -> None:
    """Delete 1,000 history rows of ours, rewrite 500 in place, delete 100 native plays."""
    conn = sqlite3.connect(plex, isolation_level=None)
    try:
        top = conn.execute("SELECT max(id) FROM metadata_item_views").fetchone()[0]
        conn.execute("DELETE FROM metadata_item_views WHERE id > ? AND id % 500 = 0",
                     (top - 500_000,))
        conn.execute("UPDATE metadata_item_views SET viewed_at = viewed_at + 7"
                     " WHERE id > ? AND id % 1000 = 1", (top - 500_000,))
    finally:
        conn.close()


def _claim_natives(plex: Path, store: Path) -> None:
    """Record every native history row of the fixture as a play already in Plex (the bench's
    scrobbles never coincide with one), so the check of native plays has work at scale."""
    conn = sqlite3.connect(store, isolation_level=None)
    try:
        conn.execute("ATTACH ? AS plex", (f"{plex.as_uri()}?mode=ro",))
        conn.execute(
            "INSERT INTO plays_in_plex (scrobble_id, account_id, rating_key, native_viewed_at,"
            " checked_at) SELECT 100000000 + v.id, v.account_id, t.id, v.viewed_at, 0 FROM"
            " plex.metadata_item_views v JOIN plex.metadata_items t ON t.guid = v.guid WHERE"
            " v.id < (SELECT min(view_id) FROM applied_plays) AND t.metadata_type = 10")
    finally:
        conn.close()


def _drop_natives(plex: Path, store: Path, n: int) -> None:
    """Delete the history rows of `n` recorded native plays (one row per claimed play)."""
    conn = sqlite3.connect(plex, isolation_level=None)
    try:
        conn.execute("ATTACH ? AS ledger", (f"{store.as_uri()}?mode=ro",))
        conn.execute(
            "DELETE FROM metadata_item_views WHERE id IN (SELECT (SELECT v.id FROM"
            " metadata_item_views v JOIN metadata_items t ON t.guid = v.guid WHERE t.id ="
            " c.rating_key AND v.account_id = c.account_id AND v.viewed_at ="
            " c.native_viewed_at) FROM ledger.plays_in_plex c ORDER BY c.scrobble_id LIMIT ?)",
            (n,))
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-natives", action="store_true",
                        help="no native-play records (the state bench_apply's revert sees)")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.tracks, args.plays, args.seed)
        return 0
    plex_src, store_src = applied_copies(args.tracks, args.plays, args.seed)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        plex, store = work / "com.plexapp.plugins.library.db", work / "store.db"
        _copy_db(plex_src, plex)
        _copy_db(store_src, store)
        if not args.no_natives:
            _claim_natives(plex, store)
        engine = open_store(f"sqlite:///{store}")
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT (SELECT count(*) FROM applied_plays WHERE"
                                        " view_id IS NOT NULL), (SELECT count(*) FROM"
                                        " plays_in_plex)").one()
        print(f"ledger: {rows[0]:,} rows with a history row, {rows[1]:,} already in Plex")
        load = _load()
        cpu, wall = [], []
        for _ in range(args.repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            counts = reconcile(engine, plex, "apply")
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            assert counts == {"forgotten": 0, "natives_gone": 0}, counts
        print(f"reconcile: CPU {min(cpu):.3f}-{max(cpu):.3f} s, wall {min(wall):.3f}-"
              f"{max(wall):.3f} s ({args.repeat} runs); load {load} -> {_load()}")
        floors = [floor(plex, store) for _ in range(3)]
        best = min(f for f, _n in floors)
        print(f"floor (bare count of {floors[0][1]:,} ledger rows joined by view id):"
              f" {best:.3f} s wall; ratio {min(wall) / best:.2f}")
        _disturb(plex)
        _drop_natives(plex, store, 100)
        counts = reconcile(engine, plex, "apply")
        print(f"after deleting 1,000 of our rows, rewriting 500, deleting 100 native plays:"
              f" {counts}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
