"""Library mirror budget: a 200,000-track Plex DB file mirrored into a fresh store in < 5 s.

Each run times four things on the same file: the floor (a plain SELECT of the same columns,
`TRACKS_SQL` and `MBIDS_SQL` fetched by the sqlite3 module, no Python records), the read
(`DatabaseLibrary.tracks`), the mirror (`reconcile.refresh_library` into a fresh store,
matching left out: the read, staging, the set-wise diff, the FTS index; the budget) and an
unchanged mirror (the same again into that store: nothing to write); it prints
mirror / floor, the mirrors' CPU seconds (this process) and the load average.

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
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from daemon.plex import DatabaseLibrary, HttpLibrary
from daemon.plex.library_db import MBIDS_SQL, TRACKS_SQL
from daemon.reconcile import jobs as reconcile
from daemon.store.engine import open_store
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import generate_library
from tests.fakes.plex_server import FakePlexServer

OUT = Path(__file__).resolve().parent / "out"
BUDGET_S = 5.0


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


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f} s"


def _plain_select(path: Path) -> None:
    """The floor: the read's own two queries, rows fetched as tuples, nothing built."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        section = conn.execute("SELECT id FROM library_sections WHERE section_type = 8"
                               " ORDER BY id").fetchone()[0]
        conn.execute(TRACKS_SQL, {"section": section}).fetchall()
        conn.execute(MBIDS_SQL, {"section": section}).fetchall()
    finally:
        conn.close()


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
    floors, reads, mirrors, loads = [], [], [], []
    unchanged: list[float] = []
    mirror_cpu: list[float] = []
    unchanged_cpu: list[float] = []
    for _ in range(args.runs):
        loads.append(_load())
        floors.append(_timed(lambda: _plain_select(path)))
        started = time.perf_counter()
        tracks = list(DatabaseLibrary(str(path)).tracks())
        reads.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            engine = open_store(f"sqlite:///{tmp}/store.db")
            for times, cpus in ((mirrors, mirror_cpu), (unchanged, unchanged_cpu)):
                started, cpu = time.perf_counter(), time.process_time()
                reconcile.refresh_library(DatabaseLibrary(str(path)), engine,
                                          rematch=lambda _diff: {})
                times.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu)
            engine.dispose()
    loads.append(_load())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worst = max(mirrors)
    print(f"{len(tracks):,} tracks, {args.runs} runs (min-max); load {' -> '.join(loads)}")
    print(f"  floor (plain SELECT of the same columns): {_span(floors)}")
    print(f"  read (DatabaseLibrary.tracks): {_span(reads)}")
    print(f"  mirror (refresh_library into a fresh store): {_span(mirrors)}"
          f" (budget {BUDGET_S:g} s; CPU {_span(mirror_cpu)}); peak RSS {rss:.0f} MB")
    print(f"  unchanged mirror (the same again, nothing to write): {_span(unchanged)}"
          f" (CPU {_span(unchanged_cpu)})")
    print(f"  ratio mirror / floor: {min(m / f for m, f in zip(mirrors, floors, strict=True)):.2f}"
          f"-{max(m / f for m, f in zip(mirrors, floors, strict=True)):.2f}")
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
    return 0 if worst < BUDGET_S and unchanged else 1


if __name__ == "__main__":
    sys.exit(main())
