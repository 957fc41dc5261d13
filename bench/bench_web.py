"""Issue 6 budgets: the status page under load while the jobs run.

With 1,000,000 scrobbles and 20,000 queued tracks in the store, every page and JSON endpoint
answers in under 150 ms at p95 with 20 concurrent clients on loopback, and the library search
in under 50 ms.

1. The store is built through the real jobs (as bench_reconcile does): a 200,000-track Plex
   library mirrored by `reconcile.refresh_library`, 1,000,000 scrobbles of 100,000 distinct
   tracks matched by `reconcile.match` (about 20% queued, with suggestions); then a ledger of
   the matched plays (80% written, 5% already in Plex) is filled in SQL, since no Plex apply
   is being measured. The store is cached in bench/out/web-store-*.db.
2. `plexfm run`'s own `service.run` serves it in a child process (waitress, the real app,
   the background count refresher), with two jobs running on the real scheduler the whole
   time: "pull" stores 2,000 new scrobbles every --pull-every seconds (30; the service's default
   is 15 minutes), 100 of them of new tracks, and chains the real `reconcile.match` (5-10 s of
   work against the 200,000-track library).
3. 20 client threads (requests, keep-alive) loop over every page and JSON endpoint, library
   searches with typed prefixes, and POSTed decisions, for --seconds, each pausing --think
   seconds on average between requests (exponential; 0: none, a saturation test).

    .venv/bin/python -m bench.bench_web [--seconds 60] [--clients 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PAGE_BUDGET_MS, SEARCH_BUDGET_MS = 150.0, 50.0
USER = "bench"


def build_store(path: Path, tracks: int, distinct: int, scrobbles: int, seed: int) -> None:
    """The benchmark store, through the real library and match jobs (cached at `path`)."""
    from bench.bench_library import fixture_db
    from bench.bench_reconcile import scrobbled_identities
    from daemon.plex import DatabaseLibrary
    from daemon.reconcile import jobs as reconcile
    from daemon.scrobble import Scrobble, with_ordinals
    from daemon.store import pagestats
    from daemon.store import scrobbles as scrobble_queries
    from daemon.store.engine import open_store, write

    partial = path.with_suffix(".partial.db")
    for leftover in OUT.glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    db = fixture_db(tracks, seed)
    engine = open_store(f"sqlite:///{partial}")
    reconcile.refresh_library(DatabaseLibrary(str(db)), engine)
    identities = scrobbled_identities(db, distinct, 0.2, seed)
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(identities))]
    picks = rng.choices(range(len(identities)), weights, k=scrobbles)
    first = int(time.time()) - 10 * 365 * 86400
    plays = [Scrobble(first + i * 300 + rng.randrange(300), *identities[t])
             for i, t in enumerate(picks)]
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, USER, with_ordinals(plays), "bench")
    del plays, picks
    counts = reconcile.match(engine)
    with write(engine) as conn:  # a ledger as if every earlier window had applied
        conn.exec_driver_sql(
            "INSERT INTO applied_plays (scrobble_id, account_id, rating_key, view_id, batch_id,"
            " applied_at) SELECT st.scrobble_id, 1, m.rating_key, st.scrobble_id,"
            " 1 + st.scrobble_id % 30, 0 FROM scrobble_tracks st CROSS JOIN matches m"
            " ON m.track_id = st.track_id WHERE m.status = 'auto' AND st.scrobble_id % 20 < 16")
        conn.exec_driver_sql(
            "INSERT INTO plays_in_plex (scrobble_id, account_id, rating_key, native_viewed_at,"
            " checked_at) SELECT st.scrobble_id, 1, m.rating_key, st.uts, 0 FROM scrobble_tracks"
            " st CROSS JOIN matches m ON m.track_id = st.track_id WHERE m.status = 'auto'"
            " AND st.scrobble_id % 20 = 16")
        conn.exec_driver_sql(
            "INSERT INTO apply_batches (started_at, finished_at, mode, state, added, removed,"
            " already_in_plex) SELECT ?, ?, 'offline', 'done', count(*), 0, 0 FROM"
            " applied_plays GROUP BY batch_id", (time.time() - 86400, time.time() - 86000))
    pagestats.refresh(engine, [USER])
    engine.dispose()
    partial.rename(path)
    print(f"built {path.name} in {time.perf_counter() - started:.0f} s: {counts['queued']:,} "
          f"queued of {counts['matched']:,} tracks", flush=True)


def serve(db: Path, ready: Path, pull_every: float) -> int:
    """Child process: the real service (web + scheduler) over the store, until SIGTERM."""
    import logging

    from daemon.config.sections import WebConfig
    from daemon.reconcile.worker import match_in_worker
    from daemon.scrobble import Scrobble, with_ordinals
    from daemon.service import process as service
    from daemon.service.jobs import JobSpec
    from daemon.service.runs import JobRunner
    from daemon.stopping import StopToken
    from daemon.store import scrobbles as scrobble_queries
    from daemon.store.engine import open_store, write

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth is N"
    engine = open_store(f"sqlite:///{db}")
    with engine.connect() as conn:
        known = [tuple(r) for r in conn.exec_driver_sql(
            "SELECT artist, title, album FROM scrobbled_tracks ORDER BY random() LIMIT 5000")]
    rng = random.Random(7)

    def pull() -> dict[str, Any]:
        now = int(time.time())
        plays = [Scrobble(now - rng.randrange(86400), *rng.choice(known)) for _ in range(1900)]
        plays += [Scrobble(now - rng.randrange(86400), f"New Artist {rng.randrange(10**6)}",
                           f"Song {rng.randrange(10**6)}", "") for _ in range(100)]
        with write(engine) as conn:
            added = scrobble_queries.insert_rows(conn, USER, with_ordinals(plays), "bench")
        return {"added": added}

    url = f"sqlite:///{db}"

    def match() -> dict[str, Any]:  # as the service runs it: in a worker process
        return match_in_worker(url, log_level="WARNING")

    specs = [JobSpec("pull", pull, pull_every, run_at_start=True, then=lambda c: ["match"]),
             JobSpec("match", match, None)]
    return service.run(specs, JobRunner(engine), engine, WebConfig(port=0), stop=StopToken(),
                       close=engine.dispose, users=[USER],
                       on_listening=lambda url: ready.write_text(url))


class Load:
    """Client threads looping over the endpoints; latencies per endpoint name."""

    def __init__(self, url: str, queued: list[int], words: list[str], seed: int,
                 think: float = 0.0, cursors: list[str] | None = None) -> None:
        self.url = url
        self.cursors = cursors or ["0.0"]
        self.think = think
        self.queued = queued
        self.words = words
        self.rng = random.Random(seed)
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def requests(self, rng: random.Random) -> list[tuple[str, str, str]]:
        """(name, method, path) of one round over everything the page offers."""
        word = rng.choice(self.words)
        typed = [word[:n] for n in range(2, min(len(word), 6) + 1)]
        artist_page = rng.randrange(1, 40)
        page = rng.randrange(0, min(199, len(self.cursors)))  # "next" from pages 1-199
        track = rng.choice(self.queued)
        round_: list[tuple[str, str, str]] = [
            ("page /", "GET", "/"), ("page /queue", "GET", "/queue"),
            ("page /queue next page (deep)", "GET",
             f"/queue?page={page + 2}&after={self.cursors[page]}"),
            ("api /api/queue?page=N", "GET", f"/api/queue?page={rng.randrange(2, 200)}"),
            ("page /matches", "GET", "/matches"),
            ("page /matches?filters", "GET", f"/matches?status=all&q={word[:4]}&sort=artist"),
            ("page /library", "GET", "/library"),
            ("page /library?unplayed", "GET",
             f"/library?unplayed=1&sort=artist&page={artist_page}"),
            ("page /history", "GET", "/history"),
            ("api /api/dashboard", "GET", "/api/dashboard"),
            ("api /api/queue", "GET", "/api/queue"),
            ("api /api/queue/bulk-preview", "GET", "/api/queue/bulk-preview?min_score=95"),
            ("api /api/matches", "GET", f"/api/matches?status=manual&page={artist_page}"),
            ("api /api/library", "GET", f"/api/library?q={word}"),
            ("api /api/history", "GET", "/api/history"),
            ("post skip", "POST", f"/api/tracks/{track}/skip"),
            ("post unskip", "POST", f"/api/tracks/{track}/unskip"),
        ]
        round_ += [("search (as you type)", "GET", f"/api/library/search?limit=8&q={q}")
                   for q in typed]
        return round_

    def client(self, deadline: float, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        token = session.get(f"{self.url}/api/csrf", timeout=30).json()["csrf_token"]
        headers = {"X-CSRF-Token": token, "Accept": "application/json"}
        if self.think:  # people do not all click at the same instant
            time.sleep(rng.uniform(0, 2 * self.think))
        while time.monotonic() < deadline:
            round_ = self.requests(rng)
            rng.shuffle(round_)
            for name, method, path in round_:
                if time.monotonic() >= deadline:
                    break
                started = time.perf_counter()
                if method == "GET":
                    response = session.get(self.url + path, timeout=30)
                else:
                    response = session.post(self.url + path, json={"days": 1},
                                            headers=headers, timeout=30)
                elapsed = (time.perf_counter() - started) * 1000
                with self.lock:
                    self.samples[name].append(elapsed)
                    if response.status_code != 200:
                        self.errors[name] += 1
                if self.think:  # a person reads, types, clicks
                    time.sleep(rng.expovariate(1 / self.think))

    def run(self, clients: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=self.client, args=(deadline, i)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 \
        else values[0]


def main() -> int:
    """Build or reuse the store, serve it, load it; exit 1 when over budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--distinct", type=int, default=100_000)
    parser.add_argument("--scrobbles", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pull-every", type=float, default=30.0,
                        help="seconds between the benchmark's pulls (each chains a match)")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--think", type=float, default=0.5,
                        help="mean pause of each client between requests, in seconds (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.ready, args.pull_every)
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / f"web-store-{args.tracks}-{args.distinct}-{args.scrobbles}-s{args.seed}.db"
    if not store.exists():
        build_store(store, args.tracks, args.distinct, args.scrobbles, args.seed)
    work = store.with_name("web-work.db")  # the jobs write: serve a copy, keep the cache clean
    for leftover in OUT.glob("web-work.db*"):
        leftover.unlink()
    _copy(store, work)

    with sqlite3.connect(work) as conn:
        scrobbles = conn.execute("SELECT count(*) FROM scrobbles").fetchone()[0]
        ordered = conn.execute(
            "SELECT t.plays, t.id FROM scrobbled_tracks t JOIN matches m ON m.track_id = t.id"
            " WHERE m.status = 'queued' ORDER BY t.plays DESC, t.id").fetchall()
        queued = sorted(track for _plays, track in ordered)
        cursors = [f"{plays}.{track}" for plays, track in ordered[24::25]]  # each page's last
        words = sorted({w for (t,) in conn.execute("SELECT title FROM library_tracks LIMIT"
                                                   " 20000") for w in t.split() if len(w) > 3})
    print(f"store: {scrobbles:,} scrobbles, {len(queued):,} queued tracks", flush=True)
    ready = OUT / "web-ready"
    ready.unlink(missing_ok=True)
    child = subprocess.Popen([sys.executable, "-m", "bench.bench_web", "--serve", str(work),
                              "--ready", str(ready), "--pull-every", str(args.pull_every)],
                             cwd=ROOT,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() or not ready.read_text():
            if time.monotonic() > deadline or child.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.1)
        url = ready.read_text().strip()
        load = Load(url, queued, words, args.seed, args.think, cursors)
        # warm-up: templates, caches, and the start-up runs of the jobs (a pull and its match,
        # which every start does) have finished
        Load(url, queued, words, args.seed, args.think, cursors).run(args.clients, args.warmup)
        load.run(args.clients, args.seconds)
        with sqlite3.connect(work) as conn:
            jobs = conn.execute("SELECT job, count(*) FROM job_runs WHERE started_at > ?"
                                " GROUP BY job", (time.time() - args.seconds - 5,)).fetchall()
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    return report(load, args, scrobbles, len(queued), dict(jobs))


def _copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def report(load: Load, args: argparse.Namespace, scrobbles: int, queued: int,
           jobs: dict[str, int]) -> int:
    """Print the table, write bench/out/web.json; 1 when a budget is missed."""
    rows = []
    over = False
    total = sum(len(v) for v in load.samples.values())
    print(f"\n{args.clients} clients (think {args.think:g} s), {args.seconds:.0f} s, "
          f"{total:,} requests ({total / args.seconds:.0f}/s); job runs meanwhile: {jobs}")
    print(f"{'endpoint':<32}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  budget")
    for name in sorted(load.samples):
        values = load.samples[name]
        budget = SEARCH_BUDGET_MS if name.startswith("search") else PAGE_BUDGET_MS
        row = {"endpoint": name, "n": len(values), "p50": statistics.median(values),
               "p95": p95(values), "max": max(values), "budget": budget,
               "errors": load.errors.get(name, 0)}
        ok = row["p95"] < budget and not row["errors"]
        over |= not ok
        rows.append(row)
        print(f"{name:<32}{row['n']:>7}{row['p50']:>9.1f}{row['p95']:>9.1f}{row['max']:>9.1f}"
              f"  {'ok' if ok else 'OVER'} (<{budget:.0f})"
              + (f" {row['errors']} errors" if row["errors"] else ""))
    (OUT / "web.json").write_text(json.dumps({
        "scrobbles": scrobbles, "queued": queued, "clients": args.clients,
        "seconds": args.seconds, "think": args.think, "requests": total, "jobs": jobs,
        "endpoints": rows}, indent=1))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
