"""Apply budgets through the real apply job (plan, native dedupe, backup, write, ledger):

- 1,000,000 plays applied to a fixture Plex DB of 200,000 tracks in < 15 s, backup included;
- reverting 100,000 plays in < 4 s;
- peak memory of the process doing both < 600 MB.

The fixture (Plex's schema with its ICU/FTS traps, 1% of tracks in the trash, native plays on
5% of tracks) and the store holding its mirror, 1,000,000 scrobbles of its tracks and their
matches are prepared once, in a child process (so its memory is not counted), and cached in
bench/out/; each run works on copies.

The floors are measured after the revert, on copies: of the fixture, and of the state after
the apply, which is the revert's own backup (verified by the writer; no copy is made between
the apply and the revert). Each floor's copy is made just before it, so the floors, unlike
the revert, start right after a copy of 275-600 MB. The floor, measured in the same run: the
same history rows (every column, as the apply wrote them, in its id order) inserted by a plain
`executemany` from Python tuples, and the same settings rows updated / inserted by id, in one
transaction with the writer's page cache, then the WAL checkpoint; for the revert, the same
history ids deleted and the same settings rows updated / deleted. No plan, no ledger, no
backup, no verification: what any writer of these rows must pay. The script prints apply / floor.

    .venv/bin/python -m bench.bench_apply [--plays 1000000] [--revert 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from bench.bench_library import OUT
from bench.fakeproc import ROOT
from daemon.apply.job import Applier, ApplySettings
from daemon.plex.playcounts import CACHE_KIB, VIEW_COLUMNS
from daemon.store import matches
from daemon.store.engine import open_store
from tests.fakes.plex_db import NativePlays, build_plex_db
from tests.fakes.plex_library_gen import generate_library

APPLY_BUDGET_S, REVERT_BUDGET_S, MEMORY_BUDGET_MB = 15.0, 4.0, 600.0
SETTINGS_COLUMNS = ("account_id", "guid", "view_count", "last_viewed_at", "created_at",
                    "updated_at")


def fixture(tracks: int, seed: int) -> Path:
    path = OUT / f"plex-apply-{tracks}-s{seed}.db"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.db")
        build_plex_db(partial, generate_library(tracks, seed=seed, trash_fraction=0.01),
                      native_plays=NativePlays(fraction=0.05, seed=seed))
        partial.rename(path)
    return path


def prepared_store(tracks: int, plays: int, seed: int) -> Path:
    """The cached store (library mirrored, `plays` scrobbles stored and matched)."""
    path = OUT / f"apply-store-{tracks}-{plays}-s{seed}.db"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "bench.bench_apply", "--prepare", "--tracks",
                        str(tracks), "--plays", str(plays), "--seed", str(seed)],
                       cwd=ROOT, check=True)
    return path


def prepare(tracks: int, plays: int, seed: int) -> None:
    """Build the store `prepared_store` caches (run in a child process)."""
    from daemon.plex import DatabaseLibrary
    from daemon.reconcile import jobs as reconcile
    from daemon.scrobble import Scrobble, with_ordinals
    from daemon.store import scrobbles as scrobble_queries
    from daemon.store.engine import write

    source = fixture(tracks, seed)
    path = OUT / f"apply-store-{tracks}-{plays}-s{seed}.db"
    partial = path.with_suffix(".partial.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    engine = open_store(f"sqlite:///{partial}")
    library = list(DatabaseLibrary(str(source)).tracks())
    reconcile.refresh_library(DatabaseLibrary(str(source)), engine)
    rng = random.Random(seed)
    scrobbles = []
    for i in range(plays):
        t = library[rng.randrange(len(library))]
        scrobbles.append(Scrobble(1_300_000_000 + i * 97, t.track_artist or t.album_artist,
                                  t.title, t.album))
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "bench", with_ordinals(scrobbles), "bench")
    del scrobbles
    reconcile.match(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    partial.rename(path)


def _copy_db(source: Path, dest: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, dest)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    os.sync()  # the copies just made are written out first, not during the measured fsyncs
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def _floor_write(db: Path, work: Callable[[sqlite3.Connection], None]) -> float:
    """Seconds of `work` in one BEGIN IMMEDIATE transaction, COMMIT and checkpoint included,
    with the writer's page cache."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
        conn.execute("PRAGMA temp_store = MEMORY")
        os.sync()  # (as in `_timed`)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        work(conn)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return time.perf_counter() - started
    finally:
        conn.close()


def _settings_changes(before: Path, after: Path) -> tuple[list[tuple[Any, ...]],
                                                          list[tuple[Any, ...]], list[int]]:
    """Settings rows `after` changed, added and deleted relative to `before`:
    (view_count, last_viewed_at, updated_at, id) updates, full new rows, deleted ids."""
    conn = sqlite3.connect(f"{after.as_uri()}?mode=ro", uri=True)
    try:
        # the cached pristine fixture is never written: read it without locks or side files
        immutable = "&immutable=1" if before.parent == OUT else ""
        conn.execute("ATTACH ? AS b", (f"{before.as_uri()}?mode=ro{immutable}",))
        updated = conn.execute(
            "SELECT a.view_count, a.last_viewed_at, a.updated_at, a.id FROM"
            " main.metadata_item_settings a JOIN b.metadata_item_settings p ON p.id = a.id"
            " WHERE a.view_count IS NOT p.view_count OR a.last_viewed_at IS NOT"
            " p.last_viewed_at OR a.updated_at IS NOT p.updated_at").fetchall()
        added = conn.execute(
            f"SELECT {', '.join(SETTINGS_COLUMNS)} FROM main.metadata_item_settings WHERE id >"
            " (SELECT coalesce(max(id), 0) FROM b.metadata_item_settings)").fetchall()
        deleted = [r[0] for r in conn.execute(
            "SELECT id FROM b.metadata_item_settings WHERE id NOT IN"
            " (SELECT id FROM main.metadata_item_settings)")]
    finally:
        conn.close()
    return updated, added, deleted


def _settings_work(conn: sqlite3.Connection, updated: list[tuple[Any, ...]],
                   added: list[tuple[Any, ...]], deleted: list[int]) -> None:
    conn.executemany("UPDATE metadata_item_settings SET view_count = ?, last_viewed_at = ?,"
                     " updated_at = ? WHERE id = ?", updated)
    conn.executemany(f"INSERT INTO metadata_item_settings ({', '.join(SETTINGS_COLUMNS)})"
                     " VALUES (?, ?, ?, ?, ?, ?)", added)
    conn.executemany("DELETE FROM metadata_item_settings WHERE id = ?",
                     [(i,) for i in deleted])


def floor_apply(pristine: Path, after: Path, first_view: int, work_dir: Path) -> float:
    """The plain-executemany floor of the apply (see the module docstring)."""
    columns = ", ".join(f'"{c}"' for c in VIEW_COLUMNS)
    conn = sqlite3.connect(f"{after.as_uri()}?mode=ro", uri=True)
    try:
        views = conn.execute(f"SELECT {columns} FROM metadata_item_views WHERE id >= ?"
                             " ORDER BY id", (first_view,)).fetchall()
    finally:
        conn.close()
    settings = _settings_changes(pristine, after)
    db = work_dir / "floor-apply.db"
    _copy_db(pristine, db)
    marks = ", ".join("?" for _ in VIEW_COLUMNS)

    def work(c: sqlite3.Connection) -> None:
        c.executemany(f"INSERT INTO metadata_item_views ({columns}) VALUES ({marks})", views)
        _settings_work(c, *settings)

    try:
        return _floor_write(db, work)
    finally:
        db.unlink()


def floor_revert(after: Path, final: Path, doomed: list[int], work_dir: Path) -> float:
    """The plain-executemany floor of the revert: the same ids deleted, the same settings."""
    settings = _settings_changes(after, final)
    db = work_dir / "floor-revert.db"
    _copy_db(after, db)

    def work(c: sqlite3.Connection) -> None:
        c.executemany("DELETE FROM metadata_item_views WHERE id = ?", [(i,) for i in doomed])
        _settings_work(c, *settings)

    try:
        return _floor_write(db, work)
    finally:
        db.unlink()


def _views_gone(after: Path, final: Path) -> list[int]:
    conn = sqlite3.connect(f"{final.as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("ATTACH ? AS a", (f"{after.as_uri()}?mode=ro",))
        return [r[0] for r in conn.execute(
            "SELECT id FROM a.metadata_item_views EXCEPT SELECT id FROM main.metadata_item_views")]
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--revert", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.tracks, args.plays, args.seed)
        return 0
    source = fixture(args.tracks, args.seed)
    store = prepared_store(args.tracks, args.plays, args.seed)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        db = work / "com.plexapp.plugins.library.db"
        _copy_db(source, db)
        _copy_db(store, work / "store.db")
        engine = open_store(f"sqlite:///{work}/store.db")
        settings = ApplySettings(
            database=db, mode="offline", window=(dt_time(4), dt_time(5)),
            accounts={"bench": 1}, slack_seconds=300, backup_dir=work / "backups",
            backups_keep=2, lock_path=work / "apply.lock")
        plex = sqlite3.connect(db)
        first_view = plex.execute("SELECT coalesce(max(id), 0) + 1 FROM metadata_item_views"
                                  ).fetchone()[0]
        plex.close()
        load = _load()
        took, counts = _timed(lambda: Applier(engine, settings).run(force_window=True))
        print(f"apply: {counts['added']:,} plays written ({counts['already_in_plex']:,} already"
              f" in Plex) in {took:.2f} s, backup included (budget {APPLY_BUDGET_S:g} s);"
              f" load {load} -> {_load()}", flush=True)
        # revert: unmatch the most played tracks until about args.revert plays go
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT t.id, t.plays FROM scrobbled_tracks t JOIN matches m ON m.track_id ="
                " t.id WHERE m.status = 'auto' ORDER BY t.id").all()
        chosen, total = [], 0
        for track_id, n in rows:
            if total >= args.revert:
                break
            chosen.append(track_id)
            total += n
        with engine.begin() as conn:
            matches.decide_many(conn, [(t, matches.NOT_IN_LIBRARY, None) for t in chosen])
        load = _load()
        revert_took, revert = _timed(lambda: Applier(engine, settings).run(force_window=True))
        print(f"revert: {revert['removed']:,} plays removed in {revert_took:.2f} s"
              f" (budget {REVERT_BUDGET_S:g} s); load {load} -> {_load()}", flush=True)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MB (budget {MEMORY_BUDGET_MB:g} MB)", flush=True)
        engine.dispose()
        # the state after the apply, for the floors: the revert's own backup (copying the
        # database here, before the revert, had the host write 600 MB just before it: the
        # revert's backup then took 1.1 s instead of 0.25 s)
        after = Path(revert["backup"])
        doomed = _views_gone(after, db)
        load = _load()
        floor = floor_apply(source, after, first_view, work)
        revert_floor = floor_revert(after, db, doomed, work)
        print(f"floor (plain executemany, same rows, no backup): apply {floor:.2f} s,"
              f" revert {revert_floor:.2f} s; load {load} -> {_load()}")
        print(f"ratio to floor: apply {took / floor:.2f}, revert {revert_took / revert_floor:.2f}")
    ok = took < APPLY_BUDGET_S and revert_took < REVERT_BUDGET_S and peak < MEMORY_BUDGET_MB
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
