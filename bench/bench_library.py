"""Library mirror budget: every track of a 200,000-track Plex DB read from the file in < 10 s.

    .venv/bin/python -m bench.bench_library                  # 200,000 tracks, seed 1
    .venv/bin/python -m bench.bench_library --tracks 20000 --http

The fixture DB (tests/fakes/plex_db.py, with Plex's ICU/FTS traps) is built once into
bench/out/ and reused, keyed by size and seed; the file is checked unchanged after the read.
``--http`` also times `HttpLibrary` through the fake Plex server (no budget: the fake renders
XML in Python, so that figure measures the fake as much as the client).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import time
from pathlib import Path

from daemon.plex import DatabaseLibrary, HttpLibrary
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import generate_library
from tests.fakes.plex_server import FakePlexServer

OUT = Path(__file__).resolve().parent / "out"
BUDGET_S = 10.0


def fixture_db(n_tracks: int, seed: int) -> Path:
    """The cached fixture DB for (n_tracks, seed), built on first use."""
    path = OUT / f"plex-library-{n_tracks}-s{seed}.db"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial.db")
        build_plex_db(partial, generate_library(n_tracks, seed=seed, trash_fraction=0.01))
        partial.rename(path)
        print(f"built {path.name} in {time.perf_counter() - started:.1f}s "
              f"({path.stat().st_size / 1e6:.0f} MB)")
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    """Run the benchmark; exit status 1 when over budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--http", action="store_true", help="also time HttpLibrary (fake PMS)")
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    path = fixture_db(args.tracks, args.seed)
    digest, mtime = _digest(path), path.stat().st_mtime_ns
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        tracks = list(DatabaseLibrary(str(path)).tracks())
        times.append(time.perf_counter() - started)
    best = min(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"DatabaseLibrary: {len(tracks)} tracks in {best:.2f}s best of {args.runs} "
          f"({', '.join(f'{t:.2f}' for t in times)}); {len(tracks) / best:,.0f} tracks/s; "
          f"peak RSS {rss:.0f} MB; budget {BUDGET_S:.0f}s")
    side = [s for s in ("-wal", "-shm") if os.path.exists(f"{path}{s}")]
    unchanged = _digest(path) == digest and path.stat().st_mtime_ns == mtime and not side
    print(f"DB file unchanged, no side files: {unchanged}")
    if args.http:
        with FakePlexServer(path) as fake:
            started = time.perf_counter()
            http = list(HttpLibrary(fake.url, fake.token, page_size=args.page_size).tracks())
            took = time.perf_counter() - started
            same = sorted(http, key=lambda t: t.rating_key) == tracks
            print(f"HttpLibrary (fake PMS): {len(http)} tracks in {took:.2f}s, "
                  f"{len(fake.requests)} requests, identical to the DB: {same}")
    return 0 if best < BUDGET_S and unchanged else 1


if __name__ == "__main__":
    sys.exit(main())
