"""Plex writer budgets: 1,000,000 plays into a 200,000-track Plex DB, then revert 100,000.

1. apply: `PlexDatabaseWriter.apply` of 1,000,000 plays (random tracks and times) including
   the online backup, the verification and the WAL checkpoint (budget: < 30 s);
2. revert: removing 100,000 of those plays, no backup (budget: < 10 s).

The fixture DB (with Plex's ICU traps and 5% natively played tracks) is built once and cached
in bench/out/ (gitignored); every run works on a fresh copy.

Usage: .venv/bin/python -m bench.bench_writer [--tracks N] [--plays N] [--revert N]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import resource
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter
from tests.fakes.plex_db import NativePlays, build_plex_db
from tests.fakes.plex_library_gen import generate_library

OUT = Path(__file__).resolve().parent / "out"
NOW = 1_760_000_000


def _fixture(tracks: int) -> Path:
    """The cached pristine fixture DB for ``tracks`` tracks (built on first use)."""
    cached = OUT / f"plex-{tracks}.db"
    if not cached.exists():
        started = time.perf_counter()
        partial = OUT / f".plex-{tracks}.db.partial"
        build_plex_db(partial, generate_library(tracks, seed=11), native_plays=NativePlays())
        partial.replace(cached)
        print(f"  built fixture {cached.name} in {time.perf_counter() - started:.1f} s")
    return cached


def _counts(path: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT (SELECT count(*) FROM metadata_item_views), "
                           "(SELECT count(*) FROM metadata_item_settings), "
                           "(SELECT coalesce(sum(view_count), 0) FROM metadata_item_settings)"
                           ).fetchone()
    finally:
        conn.close()
    return int(row[0]), int(row[1]), int(row[2])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures and write bench/out/writer.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--revert", type=int, default=100_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    pristine = _fixture(args.tracks)
    work = OUT / "writer-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    db = work / "com.plexapp.plugins.library.db"
    shutil.copyfile(pristine, db)
    conn = sqlite3.connect(db)
    keys = [r[0] for r in conn.execute(
        "SELECT id FROM metadata_items WHERE metadata_type = 10 AND deleted_at IS NULL")]
    conn.close()
    rng = random.Random(5)
    plays = [PlayToWrite(n, rng.choice(keys), rng.randrange(1_262_304_000, NOW))
             for n in range(1, args.plays + 1)]
    before = _counts(db)
    writer = PlexDatabaseWriter(db, clock=lambda: NOW)

    started = time.perf_counter()
    applied = writer.apply(plays, [], backup_dir=work / "backups", keep_backups=2)
    apply_s = time.perf_counter() - started
    after = _counts(db)
    assert len(applied.inserted) == args.plays
    assert after[0] == before[0] + args.plays
    assert after[2] == before[2] + args.plays
    print(f"  apply {args.plays:,} plays (with backup): {apply_s:.2f} s "
          f"({applied.touched_tracks:,} settings rows)")

    doomed = rng.sample(applied.removable(plays), args.revert)
    started = time.perf_counter()
    reverted = writer.apply([], doomed, backup_dir=None)
    revert_s = time.perf_counter() - started
    final = _counts(db)
    assert len(reverted.deleted) == args.revert
    assert final[0] == after[0] - args.revert
    assert final[2] == after[2] - args.revert
    print(f"  revert {args.revert:,} plays: {revert_s:.2f} s "
          f"({reverted.touched_tracks:,} settings rows)")

    result = {
        "tracks": args.tracks, "plays": args.plays, "revert": args.revert,
        "apply_s": round(apply_s, 2), "revert_s": round(revert_s, 2),
        "apply_budget_s": 30, "revert_budget_s": 10,
        "db_bytes": pristine.stat().st_size,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "machine": platform.machine(),
    }
    (OUT / "writer.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    shutil.rmtree(work, ignore_errors=True)
    ok = apply_s < 30 and revert_s < 10
    print("  within budget" if ok else "  OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
