"""Commands of the library mirror and the matches: library, match, matches."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from daemon.store.engine import write


def cmd_library(_args: argparse.Namespace, application: app.App) -> int:
    from daemon.reconcile import jobs as reconcile

    source = app.build_library_source(application.config)
    result = application.runner.run(
        "library", lambda: reconcile.refresh_library(source, application.engine)
    )
    if not result.ok:
        print(f"plexfm: library refresh failed: {result.error}", file=sys.stderr)
        return EXIT_FAILURE
    c = result.counts
    print(f"library: {c['library_tracks']:,} tracks ({c['added']:,} added, {c['changed']:,} "
          f"changed, {c['removed']:,} removed)")
    if "match" in c:
        _print_match_counts(c["match"])
    return EXIT_OK


def _print_match_counts(counts: dict[str, Any]) -> None:
    print(f"matched {counts['matched']:,} tracks: {counts.get('auto', 0):,} automatically, "
          f"{counts.get('queued', 0):,} queued")


def cmd_match(args: argparse.Namespace, application: app.App) -> int:
    from daemon.reconcile import jobs as reconcile
    from daemon.store import library as library_store
    from daemon.store import matches

    identity = args.accept[:3] if args.accept else (args.not_in_library or args.undo)
    if identity is None:
        result = application.runner.run(
            "match", lambda: reconcile.match(application.engine, full=args.full)
        )
        if not result.ok:
            print(f"plexfm: match failed: {result.error}", file=sys.stderr)
            return EXIT_FAILURE
        _print_match_counts(result.counts)
        return EXIT_OK
    with write(application.engine) as conn:
        track_id = matches.find_track(conn, *identity)
        if track_id is None:
            print(f"plexfm: no scrobbled track {' / '.join(identity)!r} (artist / title / album,"
                  " exactly as scrobbled)", file=sys.stderr)
            return EXIT_FAILURE
        if args.accept:
            try:
                rating_key = int(args.accept[3])
            except ValueError:
                print(f"plexfm: RATING_KEY must be a number, got {args.accept[3]!r}",
                      file=sys.stderr)
                return EXIT_USAGE
            if not library_store.tracks_by_key(conn, [rating_key]):
                print(f"plexfm: no library track with rating key {rating_key} (run plexfm "
                      "library first?)", file=sys.stderr)
                return EXIT_FAILURE
            matches.decide(conn, track_id, matches.MANUAL, rating_key)
            print(f"matched {' / '.join(identity)} to {rating_key}")
        elif args.not_in_library:
            matches.decide(conn, track_id, matches.NOT_IN_LIBRARY, None)
            print(f"marked {' / '.join(identity)} as not in the library")
        else:
            old = matches.undo(conn, track_id)
            print(f"forgot the decision for {' / '.join(identity)}"
                  + (f" (was {old[0]})" if old else " (there was none)"))
    return EXIT_OK


def cmd_matches(args: argparse.Namespace, application: app.App) -> int:
    from daemon.store import matches

    with application.engine.connect() as conn:
        rows = (r for r in matches.listing(conn) if not args.status or r["status"] == args.status)
        if args.json:
            print(json.dumps([_public(r) for r in rows], ensure_ascii=False))
            return EXIT_OK
        for row in rows:
            if args.jsonl:
                print(json.dumps(_public(row), ensure_ascii=False))
                continue
            target = row["rating_key"] if row["rating_key"] is not None else row["reason"] or ""
            print(f"{row['status']:<15} {row['plays']:>6}  {row['artist']} / {row['title']} / "
                  f"{row['album']}  -> {target}")
    return EXIT_OK


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("artist", "title", "album", "plays", "status", "rating_key",
                                "reason", "suggestions")}
