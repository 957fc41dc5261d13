"""Import budget (issue 13): `plexfm import` of a 1,000,000-play Spotify extended streaming
history in < 30 s and < 400 MB resident.

The history is generated the way Spotify ships it: `Streaming_History_Audio_<years>_<n>.json`
files of about 16,000 rows each (pretty-printed JSON arrays, the 2023 field set), with 10%
more rows that are not plays (shorter than 30 s, podcast episodes). Each run imports every
file into a fresh store in a child process and reports its wall time, peak RSS and counts.

Scenarios: `empty` (a store with nothing in it: the budget), `merge` (the store already holds
the same plays as last.fm scrobbles, a few seconds apart: every play is matched and merged,
the heaviest path).

Usage: .venv/bin/python -m bench.bench_import [--plays N] [--runs 3] [--scenario empty|merge]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fakeproc import ROOT

PER_FILE = 16_000
START = 1_262_304_000  # 2010-01-01: 1,000,000 plays reach into 2025
# runs the CLI in this process and reports its own peak RSS, so each run is measured alone
# (VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of this large
# process would report the parent's size)
_CHILD = """
import sys
from daemon.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print("PEAK_KIB", peak, file=sys.stderr)
sys.exit(code)
"""


def _row(rng: random.Random, ts: int, played: int, track: tuple[str, str, str]) -> dict[str, Any]:
    artist, title, album = track
    return {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)), "platform": "android",
        "ms_played": played, "conn_country": "DE", "ip_addr": "192.0.2.1",
        "master_metadata_track_name": title, "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": album,
        "spotify_track_uri": f"spotify:track:{rng.getrandbits(64):022x}",
        "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None,
        "audiobook_title": None, "audiobook_uri": None, "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None, "reason_start": "trackdone", "reason_end": "trackdone",
        "shuffle": False, "skipped": played < 30_000, "offline": False,
        "offline_timestamp": ts, "incognito_mode": False,
    }


def generate(folder: Path, plays: int, seed: int = 13) -> tuple[list[Path], list[tuple[int, ...]]]:
    """Write the history; return its files and (start, artist index, track index) per play."""
    rng = random.Random(seed)
    catalogue = [(f"Artist {a}", f"Song {a}-{t}", f"Album {a}-{t // 10}")
                 for a in range(2_000) for t in range(15)]
    rows: list[dict[str, Any]] = []
    starts: list[tuple[int, ...]] = []
    files: list[Path] = []
    uts, counted = START, 0
    while counted < plays:
        track_index = rng.randrange(len(catalogue))
        track = catalogue[track_index]
        if rng.random() < 0.1:  # a skip, or a podcast episode
            played = rng.randrange(0, 29_000)
            row = _row(rng, uts + played // 1000, played, track)
            if rng.random() < 0.3:
                row.update(master_metadata_track_name=None,
                           master_metadata_album_artist_name=None, spotify_track_uri=None,
                           episode_name="Episode", spotify_episode_uri="spotify:episode:x")
        else:
            played = rng.randrange(60_000, 420_000)
            row = _row(rng, uts + (played + 500) // 1000, played, track)
            starts.append((uts, track_index))
            counted += 1
        rows.append(row)
        uts += played // 1000 + (rng.choice((1, 2, 5, 10, 30)) if rng.random() < 0.96
                                 else rng.choice((1_800, 3_600, 7_200)))  # ~14 years
        if len(rows) == PER_FILE or counted == plays:
            year = time.gmtime(uts).tm_year
            path = folder / f"Streaming_History_Audio_{year}_{len(files)}.json"
            path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
            files.append(path)
            rows = []
    return files, starts


def prefill(data: Path, starts: list[tuple[int, ...]]) -> None:
    """The same plays as last.fm scrobbles (3 s later) in a fresh store."""
    from daemon.scrobble import Scrobble, with_ordinals
    from daemon.store import scrobbles
    from daemon.store.engine import open_store, write

    engine = open_store(f"sqlite:///{data / 'plexfm.db'}")
    catalogue = [(f"Artist {a}", f"Song {a}-{t}", f"Album {a}-{t // 10}")
                 for a in range(2_000) for t in range(15)]
    for at in range(0, len(starts), 100_000):
        batch = [Scrobble(uts + 3, *catalogue[track]) for uts, track in starts[at:at + 100_000]]
        with write(engine) as conn:
            scrobbles.insert_rows(conn, "benchuser", with_ordinals(batch), "lastfm")
    engine.dispose()


def run(files: list[Path], data: Path) -> dict[str, Any]:
    env = {"PLEXFM_LASTFM_API_KEY": "k" * 32, "PLEXFM_LASTFM_USER": "benchuser",
           "PLEXFM_STORE_DATA_DIR": str(data), "PLEXFM_LOG_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", _CHILD, "import", *map(str, files)], env=env,
                          cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr[-2000:]}")
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines()
                if line.startswith("PEAK_KIB"))
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_rss_mb": round(peak / 1024, 1), "summary": done.stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", choices=("empty", "merge"), default="empty")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "history"
        folder.mkdir()
        began = time.perf_counter()
        files, starts = generate(folder, args.plays)
        size = sum(path.stat().st_size for path in files) / 1e6
        print(f"generated {len(files)} files, {size:,.0f} MB, {args.plays:,} plays in"
              f" {time.perf_counter() - began:.0f} s", flush=True)
        results = []
        for number in range(1, args.runs + 1):
            data = Path(tmp) / f"store{number}"
            data.mkdir()
            if args.scenario == "merge":
                prefill(data, starts)
            result = run(files, data)
            results.append(result)
            print(f"run {number}: {result['wall_s']} s wall, {result['cpu_s']} s CPU,"
                  f" {result['peak_rss_mb']} MB peak RSS;"
                  f" {result['summary']}", flush=True)
    print(json.dumps({"scenario": args.scenario, "plays": args.plays, "files": len(files),
                      "runs": results, "python": platform.python_version(),
                      "machine": platform.machine()}, indent=2))


if __name__ == "__main__":
    main()
