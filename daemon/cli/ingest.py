"""Commands that fill the store: pull, import, status."""

from __future__ import annotations

import argparse
import json
import sys

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK
from daemon.importers.job import import_files
from daemon.lastfm.pull import pull
from daemon.listenbrainz import pull as lb_pull
from daemon.logs import plural
from daemon.service.jobs import lb_pull_settings, pull_settings
from daemon.service.progress import make_progress
from daemon.store.status import collect_status, format_status


def cmd_pull(args: argparse.Namespace, application: app.App) -> int:
    config = application.config
    client = app.build_lastfm_client(config)
    progress = make_progress("pull")
    fetched: int | None = None
    try:
        result = application.runner.run(
            "pull",
            lambda: pull(client, application.engine, pull_settings(config),
                              full=args.full, progress=progress),
        )
        fetched = result.counts.get("fetched") if result.ok else None
    finally:
        progress.close(fetched)  # the last progress line shows the result's number
        client.close()
    if not result.ok:
        print(f"plexfm: pull failed: {result.error}", file=sys.stderr)
        return EXIT_FAILURE
    counts = result.counts
    merged = (f", {counts['merged']:,} merged with the same plays from another source"
              if counts.get("merged") else "")
    print(f"fetched {plural(counts['fetched'], 'scrobble')}, {counts['added']:,} new{merged}, "
          f"in {plural(counts['requests'], 'request')}; backfill "
          f"{'complete' if counts['backfill_complete'] else 'incomplete'}")
    return _pull_listenbrainz(application)


def _pull_listenbrainz(application: app.App) -> int:
    """The ListenBrainz pull, when listenbrainz.user is set."""
    config = application.config
    client = app.build_listenbrainz_client(config)
    if client is None:
        return EXIT_OK
    with client:
        result = application.runner.run(
            "listenbrainz", lambda: lb_pull.pull(client, application.engine,
                                                 lb_pull_settings(config)))
    if not result.ok:
        print(f"plexfm: ListenBrainz pull failed: {result.error}", file=sys.stderr)
        return EXIT_FAILURE
    counts = result.counts
    print(f"fetched {counts['fetched']:,} ListenBrainz listens, {counts['added']:,} new, "
          f"{counts['merged']:,} merged with the same plays from another source, in "
          f"{plural(counts['requests'], 'request')}")
    return EXIT_OK


def cmd_import(args: argparse.Namespace, application: app.App) -> int:
    user = args.user or application.config.lastfm.user
    result = application.runner.run(
        "import", lambda: import_files(application.engine, args.files, user, fmt=args.format)
    )
    if not result.ok:
        print(f"plexfm: import failed: {result.error}", file=sys.stderr)
        return EXIT_FAILURE
    counts = result.counts
    for problem in counts["problems"]:
        print(f"skipped {problem}", file=sys.stderr)
    for warning in counts["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for refused in counts["refused"]:
        print(f"plexfm: import refused: {refused}", file=sys.stderr)
    print(f"imported {counts['files']} file(s): {counts['read']:,} rows read, "
          f"{counts['added']:,} new, {counts['merged']:,} merged with the same plays from "
          f"another source, {counts['already']:,} already stored, {counts['skipped']:,} "
          "skipped")
    return EXIT_FAILURE if counts["refused"] else EXIT_OK


def cmd_status(args: argparse.Namespace, application: app.App) -> int:
    status = collect_status(application.engine, application.config.lastfm.user,
                            application.config.accounts)
    if args.json:
        print(json.dumps(status, sort_keys=True))
    else:
        print(format_status(status))
    return EXIT_OK
