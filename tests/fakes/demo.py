"""`make demo`: plexfm against loopback fakes with generated data; nothing leaves the machine.

It generates a multi-year listening history, serves it from the fake last.fm API on 127.0.0.1,
writes a config for it under ./demo-data, runs the real `plexfm pull` (backfill), shows the
status, and keeps the fake serving so you can try the other commands until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from pathlib import Path

from daemon.cli import main as plexfm
from tests.fakes.history_gen import generate_history
from tests.fakes.lastfm_server import FakeLastfm

ROOT = Path(__file__).resolve().parent.parent.parent
DEMO_KEY = "demo0123456789abcdef0123456789ab"
DEMO_USER = "demo-listener"
YEAR = 365 * 86_400


def write_config(directory: Path, url: str) -> Path:
    """A config.yaml for the demo (the key is the fake's, not a real one)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        "# written by `make demo`: plexfm against a loopback fake of last.fm\n"
        f"lastfm:\n  api_key: {DEMO_KEY}\n  user: {DEMO_USER}\n  api_url: {url}\n"
        "  requests_per_second: 20\n"
        f"store:\n  data_dir: {directory / 'data'}\n",
        encoding="utf-8",
    )
    return path


def run(scrobbles: int, directory: Path, *, serve: bool) -> int:
    now = int(time.time())
    history = generate_history(scrobbles, seed=2026, start_uts=now - 6 * YEAR, end_uts=now - 60)
    fake = FakeLastfm(api_key=DEMO_KEY, latency=0.02)
    fake.add_user(DEMO_USER, history, now_playing=history[0]._replace(uts=0))
    with fake:
        config = str(write_config(directory, fake.url))
        print(f"fake last.fm at {fake.url} with {len(history):,} scrobbles of {DEMO_USER}")
        for command in (["pull"], ["status"]):
            print(f"\n$ plexfm --config {config} {' '.join(command)}", flush=True)
            code = plexfm(["--config", config, *command])
            if code:
                return code
        if not serve:
            return 0
        print(
            f"\nThe fake keeps serving. Try, in another terminal:\n"
            f"  .venv/bin/plexfm --config {config} pull\n"
            f"  .venv/bin/plexfm --config {config} status --json\n"
            "Ctrl-C stops the demo.", flush=True,
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scrobbles", type=int, default=40_000)
    parser.add_argument("--dir", type=Path, default=ROOT / "demo-data")
    parser.add_argument("--no-serve", action="store_true", help="exit after the pull")
    args = parser.parse_args(argv)
    return run(args.scrobbles, args.dir, serve=not args.no_serve)


if __name__ == "__main__":
    sys.exit(main())
