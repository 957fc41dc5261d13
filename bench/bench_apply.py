"""Issue 4 budgets through the real apply job (plan, native dedupe, backup, write, ledger):

- 1,000,000 plays applied to a fixture Plex DB of 200,000 tracks in < 30 s, backup included;
- reverting 100,000 plays in < 10 s.

The fixture (Plex's schema with its ICU/FTS traps, 1% of tracks in the trash, native plays on
5% of tracks) is built once and cached by bench.bench_library; each run works on a copy.

    .venv/bin/python -m bench.bench_apply [--plays 1000000] [--revert 100000]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
from datetime import time as dt_time
from pathlib import Path

from bench.bench_library import OUT
from daemon.apply.job import Applier, ApplySettings
from daemon.plex import DatabaseLibrary
from daemon.reconcile import jobs as reconcile
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import matches
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import open_store, write
from tests.fakes.plex_db import NativePlays, build_plex_db
from tests.fakes.plex_library_gen import generate_library


def fixture(tracks: int, seed: int) -> Path:
    path = OUT / f"plex-apply-{tracks}-s{seed}.db"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.db")
        build_plex_db(partial, generate_library(tracks, seed=seed, trash_fraction=0.01),
                      native_plays=NativePlays(fraction=0.05, seed=seed))
        partial.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--revert", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    source = fixture(args.tracks, args.seed)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "com.plexapp.plugins.library.db"
        shutil.copyfile(source, db)
        engine = open_store(f"sqlite:///{tmp}/store.db")
        tracks = list(DatabaseLibrary(str(db)).tracks())
        reconcile.refresh_library(DatabaseLibrary(str(db)), engine)
        plays = []
        for i in range(args.plays):
            t = tracks[rng.randrange(len(tracks))]
            plays.append(Scrobble(1_300_000_000 + i * 97, t.track_artist or t.album_artist,
                                  t.title, t.album))
        with write(engine) as conn:
            scrobble_queries.insert_rows(conn, "bench", with_ordinals(plays), "bench")
        del plays
        reconcile.match(engine)
        settings = ApplySettings(
            database=db, mode="offline", window=(dt_time(4), dt_time(5)),
            accounts={"bench": 1}, slack_seconds=300, backup_dir=Path(tmp) / "backups",
            backups_keep=2, lock_path=Path(tmp) / "apply.lock")
        started = time.perf_counter()
        counts = Applier(engine, settings).run(force_window=True)
        took = time.perf_counter() - started
        print(f"apply: {counts['added']:,} plays written ({counts['already_in_plex']:,} already "
              f"in Plex) into {len(tracks):,} tracks in {took:.1f} s, backup included "
              f"(budget 30 s)")
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
        with write(engine) as conn:
            for track_id in chosen:
                matches.decide(conn, track_id, matches.NOT_IN_LIBRARY, None)
        started = time.perf_counter()
        counts = Applier(engine, settings).run(force_window=True)
        took = time.perf_counter() - started
        print(f"revert: {counts['removed']:,} plays removed in {took:.1f} s (budget 10 s)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MB")
        engine.dispose()


if __name__ == "__main__":
    main()
