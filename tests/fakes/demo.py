"""`make demo`: the real `plexfm run` against loopback fakes of last.fm and Plex.

It generates a Plex music library (a real SQLite file with Plex's schema and ICU traps) and a
multi-year listening history drawn from it with every matching difficulty (remaster suffixes,
case and punctuation, featured artists, live versions, typos, artists not in the library),
serves them from the fake last.fm API and the fake Plex server on 127.0.0.1, writes a config
under ./demo-data, and runs the daemon with the maintenance window open now. Nothing leaves
the machine. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from daemon.scrobble import Scrobble
from tests.fakes.history_gen import generate_history
from tests.fakes.lastfm_server import FakeLastfm
from tests.fakes.plex_db import NativePlays, build_plex_db, plex_db_path_layout
from tests.fakes.plex_library_gen import Library, generate_library
from tests.fakes.plex_server import FakePlexServer

ROOT = Path(__file__).resolve().parent.parent.parent
DEMO_KEY = "demo0123456789abcdef0123456789ab"
DEMO_TOKEN = "demo-plex-token"
DEMO_USER = "demo-listener"
YEAR = 365 * 86_400
NOISE = (
    (0.10, lambda t: t.upper()),
    (0.06, lambda t: f"{t} - 2011 Remaster"),
    (0.04, lambda t: f"{t} (Remastered)"),
    (0.05, lambda t: f"{t} - Live"),
    (0.03, lambda t: t[:-1] + "x" if len(t) > 4 else t + "x"),
)


def history_from(library: Library, count: int, seed: int) -> list[Scrobble]:
    """Scrobbles of library tracks (with noise) plus some of music Plex doesn't have."""
    rng = random.Random(seed)
    now = int(time.time())
    tracks = [t for t in library.tracks if t.deleted_at is None]
    favourites = rng.sample(tracks, k=max(1, len(tracks) // 5))
    plays: list[Scrobble] = []
    for _ in range(int(count * 0.85)):
        track = rng.choice(favourites) if rng.random() < 0.6 else rng.choice(tracks)
        title = track.title
        roll = rng.random()
        for share, change in NOISE:
            if roll < share:
                title = change(title)
                break
            roll -= share
        artist = library.track_artist(track) or library.artist_of(track).title
        album = library.album_of(track).title if rng.random() > 0.05 else ""
        uts = now - int(rng.betavariate(1.2, 3.0) * 6 * YEAR) - 60
        plays.append(Scrobble(uts, artist, title, album))
    elsewhere = generate_history(count - len(plays), seed=seed, start_uts=now - 6 * YEAR,
                                 end_uts=now - 60, legacy=0)
    return sorted(plays + elsewhere, key=lambda s: -s.uts)


def write_config(directory: Path, lastfm_url: str, plex_url: str, plex_db: Path,
                 port: int) -> Path:
    """The demo's config.yaml (its keys are the fakes', not real ones)."""
    start = datetime.now().astimezone() - timedelta(minutes=1)
    end = start + timedelta(hours=3)
    path = directory / "config.yaml"
    path.write_text(
        "# written by `make demo`: plexfm against loopback fakes of last.fm and Plex\n"
        f"lastfm:\n  api_key: {DEMO_KEY}\n  user: {DEMO_USER}\n  api_url: {lastfm_url}\n"
        "  requests_per_second: 20\n"
        f"plex:\n  database: {plex_db}\n  url: {plex_url}\n  token: {DEMO_TOKEN}\n"
        "apply:\n  mode: live  # the fake Plex server stands in for a running Plex\n"
        f"  window: \"{start:%H:%M}-{end:%H:%M}\"  # open now, so the demo applies at once\n"
        "schedule:\n  pull_minutes: 2\n  library_minutes: 30\n"
        f"web:\n  port: {port}\n"
        f"store:\n  data_dir: {directory / 'data'}\n",
        encoding="utf-8",
    )
    return path


def run(tracks: int, scrobbles: int, directory: Path, port: int) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    library = generate_library(tracks, seed=2026)
    plex_db = plex_db_path_layout(directory / "plex")
    print(f"generating a Plex library of {tracks:,} tracks and {scrobbles:,} scrobbles...",
          flush=True)
    build_plex_db(plex_db, library, native_plays=NativePlays(fraction=0.1, seed=1))
    history = history_from(library, scrobbles, seed=2026)
    lastfm = FakeLastfm(api_key=DEMO_KEY, latency=0.02, auto_tags=True)  # genres for analytics
    lastfm.add_user(DEMO_USER, history)
    with lastfm, FakePlexServer(plex_db, token=DEMO_TOKEN) as plex:
        config = write_config(directory, lastfm.url, plex.url, plex_db, port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXFM_")}
        command = [sys.executable, "-m", "daemon", "--config", str(config), "run"]
        daemon = subprocess.Popen(command, cwd=ROOT, env=env)
        print(
            f"\nplexfm is running against the fakes (last.fm {lastfm.url}, Plex {plex.url}).\n"
            f"  status page:  http://127.0.0.1:{port}/\n"
            f"  health:       http://127.0.0.1:{port}/healthz\n"
            f"  metrics:      http://127.0.0.1:{port}/metrics\n"
            f"  try:          .venv/bin/plexfm --config {config} status\n"
            "Ctrl-C stops the demo.\n", flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: daemon.send_signal(signal.SIGTERM))
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches the daemon too
            daemon.wait()
        with contextlib.suppress(KeyboardInterrupt):
            daemon.wait(timeout=20)
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=3_000)
    parser.add_argument("--scrobbles", type=int, default=40_000)
    parser.add_argument("--dir", type=Path, default=ROOT / "demo-data")
    parser.add_argument("--port", type=int, default=8411)
    args = parser.parse_args(argv)
    return run(args.tracks, args.scrobbles, args.dir, args.port)


if __name__ == "__main__":
    sys.exit(main())
