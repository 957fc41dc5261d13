"""Commands over the listening history: stats, export."""

from __future__ import annotations

import argparse
import json
import sys

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE


def cmd_stats(args: argparse.Namespace, application: app.App) -> int:
    from daemon.analytics.report import AnalyticsSettings, build_report
    from daemon.analytics.summary import format_report

    if args.top < 1 or (args.year is not None and args.last is not None):
        print("plexfm: --top must be at least 1, and --year goes without --to", file=sys.stderr)
        return EXIT_USAGE
    settings = AnalyticsSettings.from_config(application.config, args.user)
    report = build_report(application.engine, settings, first=args.first, last=args.last,
                          year=args.year, n=args.top)
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return EXIT_OK


def cmd_export(args: argparse.Namespace, application: app.App) -> int:
    from daemon.analytics.export import export
    from daemon.analytics.report import AnalyticsSettings

    settings = AnalyticsSettings.from_config(application.config)
    try:
        result = export(application.engine, settings, args.out, args.format, since=args.since,
                        user=args.user)
    except OSError as exc:
        print(f"plexfm: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {result.rows:,} plays to {result.path} ({result.format})")
    return EXIT_OK
