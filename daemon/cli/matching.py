"""Commands of the library mirror and the matches: library, match, matches."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from daemon.cli.names import library_name, library_track, scrobbled_name
from daemon.logs import plural
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
    print(f"library: {plural(c['library_tracks'], 'track')} ({c['added']:,} added, "
          f"{c['changed']:,} changed, {c['removed']:,} removed)")
    if "match" in c:
        _print_match_counts(c["match"])
    return EXIT_OK


def _print_match_counts(counts: dict[str, Any]) -> None:
    print(f"matched {plural(counts['matched'], 'track')}: {counts.get('auto', 0):,} "
          f"automatically, {counts.get('queued', 0):,} queued")


def cmd_match(args: argparse.Namespace, application: app.App) -> int:
    from daemon.reconcile import jobs as reconcile
    from daemon.store import matches
    from daemon.store.search import library_tracks

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
            target = library_tracks(conn, [rating_key]).get(rating_key)
            if target is None:
                print(f"plexfm: no library track with rating key {rating_key} (run plexfm "
                      "library first?)", file=sys.stderr)
                return EXIT_FAILURE
            matches.decide(conn, track_id, matches.MANUAL, rating_key)
            print(f"matched {' / '.join(identity)} to {library_name(target)}")
        elif args.not_in_library:
            matches.decide(conn, track_id, matches.NOT_IN_LIBRARY, None)
            print(f"marked {' / '.join(identity)} as not in the library")
        else:
            status, _key = matches.current(conn, [track_id]).get(track_id, (None, None))
            if status in (None, matches.QUEUED):  # nobody decided: nothing to forget
                where = "it waits in the queue" if status else "plexfm match has not seen it"
                print(f"no decision to undo for {' / '.join(identity)} ({where})")
            else:
                old = matches.undo(conn, track_id) or (status, None)
                print(f"forgot the decision for {' / '.join(identity)} (was {old[0]}): the "
                      "next plexfm match decides it again")
    return EXIT_OK


def cmd_matches(args: argparse.Namespace, application: app.App) -> int:
    from daemon.store import matches

    with application.engine.connect() as conn:
        rows = (r for r in matches.listing(conn) if not args.status or r["status"] == args.status)
        named = _named(conn, rows)
        if args.json:
            print(json.dumps([_public(r) for r in named], ensure_ascii=False))
            return EXIT_OK
        for row in named:
            if args.jsonl:
                print(json.dumps(_public(row), ensure_ascii=False))
            else:
                print(f"{row['status']:<15} {row['plays']:>6,}  {scrobbled_name(row)}  -> "
                      f"{_target(row)}")
    return EXIT_OK


def _named(conn: Connection, rows: Iterable[dict[str, Any]],
           chunk: int = 500) -> Iterator[dict[str, Any]]:
    """The rows with their library tracks: `track` (the match) and each suggestion's `track`
    (looked up `chunk` rows at a time)."""
    from daemon.store.search import library_tracks

    batch: list[dict[str, Any]] = []
    for row in itertools.chain(rows, [None]):
        if row is not None:
            batch.append(row)
            if len(batch) < chunk:
                continue
        keys = {k for r in batch for k in [r["rating_key"], *(s["rating_key"]
                                                             for s in r["suggestions"])]}
        found = library_tracks(conn, (k for k in keys if k is not None))
        for r in batch:
            key = r["rating_key"]
            yield {**r, "track": found.get(key) if key is not None else None,
                   "suggestions": [{**s, "track": found.get(s["rating_key"])}
                                   for s in r["suggestions"]]}
        batch = []


def _target(row: dict[str, Any]) -> str:
    if row["rating_key"] is not None:
        return library_name(row["track"], row["rating_key"])
    text = f"({row['reason']})" if row["reason"] else "(waiting for plexfm match)"
    if row["status"] == "not_in_library":
        text = "(not in the library)"
    if row["status"] == "queued" and row["suggestions"]:
        best = row["suggestions"][0]
        text += f"; best: {library_name(best['track'], best['rating_key'])} {best['score']}%"
    return text


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("artist", "title", "album", "plays", "status", "rating_key",
                                "reason")}
    out["library_track"] = library_track(row["track"])
    out["suggestions"] = [{"rating_key": s["rating_key"], "score": s["score"],
                           "library_track": library_track(s["track"])}
                          for s in row["suggestions"]]
    return out
