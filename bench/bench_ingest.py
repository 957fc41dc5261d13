"""Ingest budgets (issue 2), measured end to end against the loopback fake in its own process.

1. throughput: a 1,000,000-scrobble history, no added latency, unthrottled (the fake serves
   pages it rendered before it listens: its CPU is not plexfm's): `plexfm pull`
   wall time, scrobbles/s and peak RSS of the pull process (budget: >= 80,000/s and >= 0.5 of
   the floor, < 30 s, < 300 MB). The floor is measured in the same run, against the same fake:
   every page's body fetched first (not timed), then decoded by the project's typed msgspec
   decoder into records (timed), then the rows stored by a plain `executemany` into a fresh
   store of the same schema, one transaction per 20,000 rows as a backfill window (timed):
   scrobbles / (decode + store seconds). The ratio is the end-to-end rate over that.
2. paced: 250 ms latency, fake rate limit 5 req/s, plexfm at 5 req/s: wall time against
   requests / 5 (budget: within 1.15x).
3. incremental with nothing new: requests made and CPU seconds of the pull itself
   (budget: one request, < 50 ms CPU).

Usage: .venv/bin/python -m bench.bench_ingest [--scrobbles N] [--paced-scrobbles N]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fakeproc import ROOT, lastfm_fake

KEY = "bench0123456789abcdef0123456789ab"
USER = "benchuser"


def _env(url: str, data: Path, rate: float, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXFM_")}
    env.update({
        "PLEXFM_LASTFM_API_KEY": KEY, "PLEXFM_LASTFM_USER": USER,
        "PLEXFM_LASTFM_API_URL": url, "PLEXFM_LASTFM_REQUESTS_PER_SECOND": str(rate),
        "PLEXFM_STORE_DATA_DIR": str(data), "PLEXFM_LOG_LEVEL": "WARNING", **extra,
    })
    return env


def _pull(env: dict[str, str]) -> tuple[float, int, dict[str, Any]]:
    """Run `plexfm pull` as a child; return wall seconds, peak RSS (KiB) and its job counts."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "daemon", "pull"], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss
    print(f"  pull: {wall:.1f} s wall, {usage.ru_utime + usage.ru_stime - cpu_before:.1f} s CPU")
    status = subprocess.run([sys.executable, "-m", "daemon", "status", "--json"], env=env,
                            cwd=ROOT, check=True, capture_output=True, text=True)
    run = json.loads(status.stdout)["jobs"]["pull"]
    counts = {**run["counts"], "job_s": run["finished_at"] - run["started_at"]}
    return wall, max(peak, before), counts


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def floor(url: str, n: int, tmp: Path) -> dict[str, Any]:
    """Decode + executemany floor for the same history (see the module docstring)."""
    import requests

    from daemon.lastfm.pages import fast_recent_tracks
    from daemon.scrobble import with_ordinals
    from daemon.store.engine import open_store, write
    from daemon.store.scrobbles import _INSERT

    decode_s = store_s = 0.0
    stored = 0
    engine = open_store(f"sqlite:///{tmp / 'floor.db'}")
    form = {"method": "user.getRecentTracks", "api_key": KEY, "format": "json", "user": USER,
            "limit": "1000", "extended": "1"}
    window: list[tuple[Any, ...]] = []
    with requests.Session() as session:
        for page in range(1, -(-n // 1000) + 1):
            body = session.post(url, data={**form, "page": str(page)}, timeout=60).content
            started = time.perf_counter()
            parsed = fast_recent_tracks(body, 200, USER, "floor", time.time())
            decode_s += time.perf_counter() - started
            assert parsed is not None  # the fake serves well-formed pages
            now = int(time.time())
            window.extend((USER, *row, "lastfm", now) for row in with_ordinals(parsed.scrobbles))
            if len(window) >= 20_000 or page * 1000 >= n:
                started = time.perf_counter()
                with write(engine) as conn:
                    conn.connection.driver_connection.executemany(  # type: ignore[union-attr]
                        _INSERT, window)
                store_s += time.perf_counter() - started
                stored += len(window)
                window = []
    engine.dispose()
    return {"scrobbles": stored, "decode_s": decode_s, "store_s": store_s,
            "scrobbles_per_s": stored / (decode_s + store_s)}


def throughput(n: int) -> dict[str, Any]:
    # the fake serves pre-rendered pages: on a 2-core machine, rendering 1M items costs the
    # fake ~5 s of CPU taken from the pull measured beside it (a cost no user ever pays)
    with tempfile.TemporaryDirectory() as tmp, lastfm_fake(
        api_key=KEY, user=USER, scrobbles=n, prerender=True
    ) as url:
        load = _load()
        wall, peak_kib, counts = _pull(_env(url, Path(tmp), 1000.0))
        load = f"{load} -> {_load()}"
        floor_load = _load()
        base = floor(url, n, Path(tmp))
        floor_load = f"{floor_load} -> {_load()}"
    rate = counts["added"] / wall
    return {"scrobbles": counts["added"], "requests": counts["requests"], "wall_s": wall,
            "scrobbles_per_s": rate, "peak_rss_mb": peak_kib / 1024, "load": load,
            "floor": base, "floor_load": floor_load,
            "ratio_to_floor": rate / base["scrobbles_per_s"]}


def paced(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, lastfm_fake(
        api_key=KEY, user=USER, scrobbles=n, latency=0.25, rate_limit=5
    ) as url:
        wall, _peak, counts = _pull(_env(url, Path(tmp), 5.0))
    minimum = -(-n // 1000)  # pages of 1000 the history needs at the very least
    return {"scrobbles": counts["added"], "requests": counts["requests"],
            "minimum_pages": minimum, "process_wall_s": wall, "pull_job_s": counts["job_s"],
            "ratio_to_requests_over_5": counts["job_s"] / (counts["requests"] / 5),
            "ratio_to_minimum_pages_over_5": counts["job_s"] / (minimum / 5),
            "retries": counts["retries"]}


def incremental_noop(n: int) -> dict[str, Any]:
    from daemon import app
    from daemon.config import load_config
    from daemon.lastfm import pull as ingest
    from daemon.service import jobs

    with tempfile.TemporaryDirectory() as tmp, lastfm_fake(
        api_key=KEY, user=USER, scrobbles=n
    ) as url:
        env = _env(url, Path(tmp), 1000.0)
        subprocess.run([sys.executable, "-m", "daemon", "pull"], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        config = load_config(None, environ=env)
        application = app.build(config)
        client = app.build_lastfm_client(config)
        settings = jobs.pull_settings(config)
        ingest.pull(client, application.engine, settings)  # warm: imports, connections
        runs = []
        for _ in range(5):
            cpu, requests = time.process_time(), client.requests_sent
            counts = ingest.pull(client, application.engine, settings)
            runs.append((time.process_time() - cpu, client.requests_sent - requests,
                         counts["added"]))
        client.close()
        application.close()
    cpu_ms = sorted(r[0] for r in runs)[len(runs) // 2] * 1000
    return {"history": n, "requests": runs[-1][1], "added": runs[-1][2],
            "cpu_ms_median": cpu_ms}


def _bytecode() -> None:
    """Compile plexfm's modules before any timed run, as an installed package has them:
    where PYTHONDONTWRITEBYTECODE is set (as on the shared bench machine), every `plexfm`
    child would otherwise compile ~120 modules from source first (~0.3 s of its time)."""
    compileall.compile_dir(ROOT / "daemon", quiet=1)


def main() -> None:
    _bytecode()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scrobbles", type=int, default=1_000_000)
    parser.add_argument("--paced-scrobbles", type=int, default=60_000)
    parser.add_argument("--only", choices=["throughput", "paced", "incremental"])
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}")
    results: dict[str, Any] = {}
    if args.only in (None, "throughput"):
        results["throughput"] = throughput(args.scrobbles)
        print("throughput:", json.dumps(results["throughput"]))
    if args.only in (None, "paced"):
        results["paced"] = paced(args.paced_scrobbles)
        print("paced:", json.dumps(results["paced"]))
    if args.only in (None, "incremental"):
        results["incremental"] = incremental_noop(20_000)
        print("incremental:", json.dumps(results["incremental"]))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps({"machine": machine, **results}, indent=2))


if __name__ == "__main__":
    main()
