"""Library mirror and match job budgets through the real jobs (store reads and writes included):

- library mirror of a 200,000-track Plex DB file into the store (`reconcile.refresh_library`,
  matching left out): < 5 s;
- the whole match job (`reconcile.match`: fold 1,000,000 scrobbles of 100,000 distinct
  tracks into tracks, exact pass, suggestions for the queue, decisions written): < 8 s, and
  < 600 MB peak RSS of the process running both jobs.

Scrobbled tracks are drawn from the library (exact, with case/punctuation/remaster noise) with
about 20% queued on purpose (live versions, typos, artists not in the library). The store with
the scrobbles is prepared once in a child process (its memory is not counted) and cached in
bench/out/; each run works on a copy.

The floor of the match job, measured in the same run after it: the pandas/rapidfuzz work alone
(`match_exact` and `suggest` on the same frames, read beforehand). The script prints job / floor.

    .venv/bin/python -m bench.bench_reconcile [--tracks 200000] [--distinct 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_library import OUT, fixture_db
from bench.fakeproc import ROOT
from daemon.plex import DatabaseLibrary
from daemon.reconcile import frames as store_frames
from daemon.reconcile import jobs as reconcile
from daemon.store.engine import open_store

MIRROR_BUDGET_S, MATCH_BUDGET_S, MEMORY_BUDGET_MB = 5.0, 8.0, 600.0


def scrobbled_identities(db: Path, distinct: int, queued_share: float,
                         seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    tracks = list(DatabaseLibrary(str(db)).tracks())
    rng.shuffle(tracks)
    out = []
    for track in tracks[:distinct]:
        artist = track.track_artist or track.album_artist
        title, album = track.title, track.album
        roll = rng.random()
        if roll < queued_share / 3:
            title += " - Live"
        elif roll < 2 * queued_share / 3:
            title = title[:-1] + "zq" if len(title) > 3 else title + "zq"
        elif roll < queued_share:
            artist = f"Unsigned {rng.randrange(10**6)}"
        elif roll < queued_share + 0.1:
            title = title.upper()
        elif roll < queued_share + 0.15:
            title += " - 2011 Remaster"
        out.append((artist, title, album))
    return out


def _key(args: argparse.Namespace) -> str:
    return (f"{args.tracks}-{args.distinct}-{args.scrobbles}-q{args.queued_share:g}"
            f"-s{args.seed}")


def prepare(args: argparse.Namespace) -> None:
    """The cached store: `args.scrobbles` scrobbles stored, nothing mirrored or folded."""
    from daemon.scrobble import Scrobble, with_ordinals
    from daemon.store import scrobbles as scrobble_queries

    db = fixture_db(args.tracks, args.seed)
    identities = scrobbled_identities(db, args.distinct, args.queued_share, args.seed)
    rng = random.Random(args.seed)
    path = OUT / f"reconcile-store-{_key(args)}.db"
    partial = path.with_suffix(".partial.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    engine = open_store(f"sqlite:///{partial}")
    plays = [Scrobble(1_300_000_000 + i, *identities[i % len(identities)])
             for i in range(args.scrobbles)]
    rng.shuffle(plays)
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "bench", with_ordinals(plays), "bench")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    partial.rename(path)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def floor(engine_url: str) -> float:
    """Seconds of the pandas/rapidfuzz work alone on the job's own frames."""
    from daemon.matching import match_exact, suggest
    from daemon.matching.frames import prepare_library, prepare_scrobbled

    engine = open_store(engine_url)
    with engine.connect() as conn:
        targets = store_frames.scrobbled(conn)
        library = store_frames.library_frame(conn)
    engine.dispose()
    started = time.perf_counter()
    prepared = prepare_library(library)  # once each, as the job does
    rows = prepare_scrobbled(targets)
    decided = match_exact(targets, library, prepared=prepared, prepared_scrobbled=rows)
    queued = decided["status"] == "queued"
    suggest(targets[queued], library, prepared=prepared,
            prepared_queued=rows[queued.to_numpy()].reset_index(drop=True))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--distinct", type=int, default=100_000)
    parser.add_argument("--scrobbles", type=int, default=1_000_000)
    parser.add_argument("--queued-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args)
        return 0
    db = fixture_db(args.tracks, args.seed)
    cached = OUT / f"reconcile-store-{_key(args)}.db"
    if not cached.exists():
        subprocess.run([sys.executable, "-m", "bench.bench_reconcile", "--prepare",
                        *sys.argv[1:]], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        shutil.copyfile(cached, Path(tmp) / "store.db")
        url = f"sqlite:///{tmp}/store.db"
        engine = open_store(url)
        load = _load()
        started = time.perf_counter()
        counts = reconcile.refresh_library(DatabaseLibrary(str(db)), engine,
                                           rematch=lambda _diff: {})
        mirror = time.perf_counter() - started
        print(f"library mirror: {counts['library_tracks']:,} tracks in {mirror:.2f} s"
              f" (budget {MIRROR_BUDGET_S:g} s); load {load} -> {_load()}", flush=True)
        load = _load()
        started = time.perf_counter()
        timings: dict[str, float] = {}
        counts = reconcile.match(engine, timings=timings)
        total = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"match job: {counts['matched']:,} tracks ({counts['auto']:,} auto, "
              f"{counts['queued']:,} queued) in {total:.2f} s (budget {MATCH_BUDGET_S:g} s);"
              f" peak RSS {peak:.0f} MB (budget {MEMORY_BUDGET_MB:g} MB); load {load} ->"
              f" {_load()}", flush=True)
        for phase, seconds in timings.items():
            print(f"  {phase}: {seconds:.2f} s")
        engine.dispose()
        load = _load()
        base = floor(url)
        print(f"floor (match_exact + suggest alone): {base:.2f} s; load {load} -> {_load()}")
        print(f"ratio to floor: match job {total / base:.2f}")
    ok = mirror < MIRROR_BUDGET_S and total < MATCH_BUDGET_S and peak < MEMORY_BUDGET_MB
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
