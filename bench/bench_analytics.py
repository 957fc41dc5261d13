"""Issue 7 budgets: with 1,000,000 scrobbles every analytics view < 500 ms, and the export of
1,000,000 rows to Parquet < 20 s.

Generates a realistic history (tests/fakes/history_gen: album runs, sessions, 21 years,
~150,000 distinct tracks of 8,000 artists) straight into a fresh store, gives every artist
last.fm-like tags, then times:
- the first fold of the rollups (once per store) and an incremental fold after a pull;
- every view of `daemon.analytics.report` (median and worst of several runs, each on a fresh
  connection) over the whole history, one year, and an odd range with partial months;
- the whole report and its charts; the exports (Parquet, CSV, NDJSON).

    .venv/bin/python -m bench.bench_analytics [--scrobbles 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from daemon.analytics import report
from daemon.analytics.export import export
from daemon.analytics.figures import report_charts
from daemon.analytics.genres import GenreRules
from daemon.analytics.rollup import refresh
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import rollups
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tags as tag_store
from daemon.store.engine import open_store, write
from tests.fakes.history_gen import generate_history
from tests.fakes.lastfm_server import auto_tags

OUT = Path(__file__).parent / "out" / "analytics.json"
VIEW_BUDGET = 0.5
EXPORT_BUDGET = 20.0
ZONE = ZoneInfo("Europe/Berlin")


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def fill(engine: Engine, n: int, seed: int) -> tuple[int, list[Scrobble]]:
    history = generate_history(n + 1000, seed=seed, n_artists=8000)
    later, history = history[:1000], history[1000:]  # the newest 1000 arrive with a "pull"
    rules = GenreRules.build()
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "bench", with_ordinals(history), "bench")
        artists = sorted({s.artist for s in history})
        tagged = [(a, auto_tags(a)) for a in artists]
        conn.exec_driver_sql(
            "INSERT INTO artist_tags (artist, tag, weight) VALUES (?, ?, ?)",
            [(a, tag, w) for a, tags in tagged for tag, w in tags])
        tag_store.replace_all_genres(conn, ((a, rules.artist_genres(a, t)) for a, t in tagged))
        conn.exec_driver_sql(
            "INSERT INTO tag_state (artist, status, source, fetched_at) VALUES (?, 'ok',"
            " 'artist', 0)", [(a,) for a in artists])
    return len(artists), later


def time_views(engine: Engine, s: report.AnalyticsSettings, first: date | None,
               last: date | None, runs: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    views: dict[str, Callable[..., Any]] = dict(report.VIEWS)
    for name, view in views.items():
        times = []
        for _ in range(runs):
            with engine.connect() as conn, conn.begin():  # a fresh connection every run
                def run(conn: Any = conn, view: Callable[..., Any] = view) -> Any:
                    p = report.period_of(conn, s.user, first, last)
                    return view(conn, s, p, 10)

                times.append(timed(run)[0])
        out[name] = {"median": statistics.median(times), "worst": max(times)}
    times = []
    for _ in range(runs):
        with engine.connect() as conn, conn.begin():
            year = (last or date(2025, 12, 31)).year
            times.append(timed(lambda conn=conn, y=year: report.most_played_view(
                conn, s, y, 10))[0])
    out["most_played"] = {"median": statistics.median(times), "worst": max(times)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scrobbles", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, Any] = {"scrobbles": args.scrobbles}
    settings = report.AnalyticsSettings("bench", ZONE, "north", GenreRules.build())
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/store.db")
        seconds, (artists, later) = timed(lambda: fill(engine, args.scrobbles, args.seed))
        print(f"generated and stored {args.scrobbles:,} scrobbles of {artists:,} artists "
              f"in {seconds:.1f} s")
        seconds, counts = timed(lambda: refresh(engine, settings.zone, settings.rules))
        results["first_fold_s"] = seconds
        print(f"first fold into the rollups: {counts['folded']:,} plays in {seconds:.1f} s "
              "(once per store)")
        with write(engine) as conn:
            scrobble_queries.insert_rows(conn, "bench", with_ordinals(later), "bench")
        seconds, counts = timed(lambda: refresh(engine, settings.zone, settings.rules))
        results["incremental_fold_s"] = seconds
        print(f"incremental fold after a pull of {counts['folded']:,}: {seconds * 1000:.0f} ms")
        with engine.connect() as conn:
            rows = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                    for t in (*rollups.ROLLUPS, "scrobbled_tracks")}
        results["rollup_rows"] = rows
        print("rollup rows: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()))

        worst = 0.0
        for label, first, last in (("whole history", None, None),
                                   ("one year (2019)", date(2019, 1, 1), date(2019, 12, 31)),
                                   ("odd range 2015-03-17..2019-11-02", date(2015, 3, 17),
                                    date(2019, 11, 2)),
                                   ("most of it 2005-06-15..2026-06-14", date(2005, 6, 15),
                                    date(2026, 6, 14))):
            views = time_views(engine, settings, first, last, args.runs)
            results[f"views: {label}"] = views
            print(f"views over {label} (median / worst of {args.runs}, ms):")
            for name, t in views.items():
                worst = max(worst, t["worst"])
                print(f"  {name:<12} {t['median'] * 1000:6.0f} / {t['worst'] * 1000:4.0f}")
        results["worst_view_s"] = worst
        seconds, full = timed(lambda: report.build_report(engine, settings))
        results["build_report_s"] = seconds
        charts_s, charts = timed(lambda: report_charts(full))
        results["charts_s"] = charts_s
        print(f"whole report (every view): {seconds * 1000:.0f} ms; its {len(charts)} charts: "
              f"{charts_s * 1000:.0f} ms")

        for fmt in ("parquet", "csv", "ndjson"):
            out = Path(tmp) / f"plays.{fmt}"
            seconds, result = timed(lambda fmt=fmt, out=out: export(engine, settings, out, fmt))
            results[f"export_{fmt}_s"] = seconds
            print(f"export {fmt}: {result.rows:,} rows in {seconds:.1f} s "
                  f"({out.stat().st_size / 1e6:.0f} MB)")
        engine.dispose()
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {results['peak_rss_mb']:.0f} MB")
    verdict = worst < VIEW_BUDGET and results["export_parquet_s"] < EXPORT_BUDGET
    print(f"budgets: worst view {worst * 1000:.0f} ms (< 500 ms), Parquet export "
          f"{results['export_parquet_s']:.1f} s (< 20 s): {'OK' if verdict else 'OVER'}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
