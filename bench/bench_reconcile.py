"""Issue 3 budgets through the real jobs (store reads and writes included):

- library mirror of a 200,000-track Plex DB file into the store (`reconcile.refresh_library`
  with no scrobbles yet): < 10 s;
- matching 1,000,000 scrobbles of 100,000 distinct tracks against that library
  (`reconcile.match`: fold scrobbles into tracks, exact pass, suggestions for the queue,
  decisions written): exact pass < 15 s, suggestions for 20,000 queued tracks < 60 s,
  peak memory < 1.5 GB.

Scrobbled tracks are drawn from the library (exact, with case/punctuation/remaster noise) with
about 20% queued on purpose (live versions, typos, artists not in the library).

    .venv/bin/python -m bench.bench_reconcile [--tracks 200000] [--distinct 100000]
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from bench.bench_library import fixture_db
from daemon.plex import DatabaseLibrary
from daemon.reconcile import jobs as reconcile
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import open_store


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--distinct", type=int, default=100_000)
    parser.add_argument("--scrobbles", type=int, default=1_000_000)
    parser.add_argument("--queued-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    db = fixture_db(args.tracks, args.seed)
    identities = scrobbled_identities(db, args.distinct, args.queued_share, args.seed)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/store.db")
        started = time.perf_counter()
        counts = reconcile.refresh_library(DatabaseLibrary(str(db)), engine)
        print(f"library mirror: {counts['library_tracks']:,} tracks in "
              f"{time.perf_counter() - started:.1f} s (budget 10 s)")
        plays = [Scrobble(1_300_000_000 + i, *identities[i % len(identities)])
                 for i in range(args.scrobbles)]
        rng.shuffle(plays)
        with engine.begin() as conn:
            scrobble_queries.insert_rows(conn, "bench", with_ordinals(plays), "bench")
        del plays
        started = time.perf_counter()
        timings: dict[str, float] = {}
        counts = reconcile.match(engine, timings=timings)
        total = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"match job: {counts['matched']:,} tracks ({counts['auto']:,} auto, "
              f"{counts['queued']:,} queued) in {total:.1f} s; peak RSS {peak:.0f} MB")
        for phase, seconds in timings.items():
            print(f"  {phase}: {seconds:.1f} s")
        engine.dispose()


if __name__ == "__main__":
    main()
