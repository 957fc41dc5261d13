"""Soak: `plexfm run` for 2,000 scheduler cycles against the fakes, with an accelerated clock.

Every job runs on intervals of a fraction of a second (pull, library, match after each pull,
apply in an open window, live mode) while the fake last.fm keeps receiving new scrobbles. The
daemon's resident memory and open file descriptors are sampled from /proc throughout: memory
must stay under 250 MB and not grow, descriptors must not leak. Then the daemon runs on its
normal schedule and its CPU use while idle is measured.

    .venv/bin/python -m bench.soak [--cycles 2000]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from daemon.scrobble import Scrobble
from tests.fakes.lastfm_server import DEFAULT_API_KEY, FakeLastfm
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import generate_library

ROOT = Path(__file__).resolve().parent.parent
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def rss_mb(pid: int) -> float:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE_KB / 1024


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def finished_runs(store: Path, job: str) -> int:
    if not store.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM job_runs WHERE job = ? AND outcome"
                                    " != 'running'", (job,)).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(fake: FakeLastfm, plex_db: Path, data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXFM_")}
    env.update({"PLEXFM_LASTFM_API_KEY": DEFAULT_API_KEY, "PLEXFM_LASTFM_USER": "soak",
                "PLEXFM_LASTFM_API_URL": fake.url, "PLEXFM_LASTFM_REQUESTS_PER_SECOND": "500",
                "PLEXFM_PLEX_DATABASE": str(plex_db), "PLEXFM_STORE_DATA_DIR": str(data),
                "PLEXFM_WEB_PORT": str(free_port()), "PLEXFM_LOG_LEVEL": "WARNING", **extra})
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    library = generate_library(2000, seed=5)
    live = [t for t in library.tracks if t.deleted_at is None]
    now = int(time.time())
    history = [Scrobble(now - 86_400 * 30 + i * 60, library.track_artist(t) or
                        library.artist_of(t).title, t.title, library.album_of(t).title)
               for i, t in enumerate(live * 5)]
    counter = {"n": 0}
    fake = FakeLastfm(seed=1)
    fake.add_user("soak", sorted(history, key=lambda s: -s.uts))

    def keep_listening(_params: dict[str, str]) -> None:
        counter["n"] += 1
        if counter["n"] % 4 == 0:  # a new play every few requests: match and apply have work
            track = live[counter["n"] % len(live)]
            fake.add_scrobbles("soak", [Scrobble(int(time.time()) - 5, library.track_artist(
                track) or library.artist_of(track).title, track.title,
                library.album_of(track).title)])

    fake.on_request(keep_listening)
    start = datetime.now().astimezone() - timedelta(minutes=1)
    window = f"{start:%H:%M}-{start + timedelta(hours=3):%H:%M}"
    with fake, tempfile.TemporaryDirectory() as tmp:
        plex_db = Path(tmp) / "plex.db"
        build_plex_db(plex_db, library)
        data = Path(tmp) / "data"
        env = environment(fake, plex_db, data, PLEXFM_SCHEDULE_PULL_MINUTES="0.002",
                          PLEXFM_SCHEDULE_LIBRARY_MINUTES="0.01", PLEXFM_APPLY_MODE="live",
                          PLEXFM_APPLY_WINDOW=window, PLEXFM_TAGS_INTERVAL_MINUTES="0")
        daemon = subprocess.Popen([sys.executable, "-m", "daemon", "run"], cwd=ROOT, env=env)
        store = data / "plexfm.db"
        samples: list[tuple[float, float, int]] = []
        started = time.monotonic()
        try:
            while finished_runs(store, "pull") < args.cycles:
                if daemon.poll() is not None:
                    raise SystemExit(f"the daemon died (exit {daemon.returncode})")
                samples.append((time.monotonic() - started, rss_mb(daemon.pid),
                                fds(daemon.pid)))
                time.sleep(2)
            took = time.monotonic() - started
            counts = {job: finished_runs(store, job) for job in ("pull", "match", "library",
                                                                 "apply")}
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=30)
        warm = [s for s in samples if s[0] > 20] or samples
        print(f"soak: {counts} job runs in {took:.0f} s, exit {code}")
        print(f"  RSS MB: first {warm[0][1]:.0f}, max {max(s[1] for s in warm):.0f}, "
              f"last {warm[-1][1]:.0f} (budget < 250)")
        print(f"  open fds: first {warm[0][2]}, max {max(s[2] for s in warm)}, "
              f"last {warm[-1][2]}")
        idle_env = environment(fake, plex_db, data, PLEXFM_APPLY_WINDOW="off",
                               PLEXFM_TAGS_INTERVAL_MINUTES="0")
        daemon = subprocess.Popen([sys.executable, "-m", "daemon", "run"], cwd=ROOT,
                                  env=idle_env)
        try:
            before = finished_runs(store, "pull")
            deadline = time.monotonic() + 120
            while finished_runs(store, "pull") <= before and time.monotonic() < deadline:
                time.sleep(0.5)  # the start-up pull, match and library runs
            time.sleep(5)
            cpu = cpu_seconds(daemon.pid)
            time.sleep(args.idle_seconds)
            idle = cpu_seconds(daemon.pid) - cpu
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
        print(f"  idle CPU: {idle:.2f} s over {args.idle_seconds:.0f} s "
              f"({100 * idle / args.idle_seconds:.2f}% of one core)")


if __name__ == "__main__":
    main()
