"""Commands over the listening history: stats, export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, output_failed
from daemon.logs import plural

# export formats by file name extension (plexfm export infers --format from OUT)
EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".ndjson": "ndjson", ".jsonl": "ndjson"}
STDOUT = Path("-")


def cmd_stats(args: argparse.Namespace, application: app.App) -> int:
    from daemon.analytics.report import AnalyticsSettings, build_report
    from daemon.analytics.summary import format_report

    if args.year is not None and args.last is not None:
        print("plexfm: --year goes without --to (for a range: --from DATE --to DATE)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.first is not None and args.last is not None and args.first > args.last:
        print(f"plexfm: --from {args.first} is after --to {args.last}", file=sys.stderr)
        return EXIT_USAGE
    settings = AnalyticsSettings.from_config(application.config, args.user)
    report = build_report(application.engine, settings, first=args.first, last=args.last,
                          year=args.year, n=args.top)
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return EXIT_OK


def export_format(out: Path, given: str | None) -> str:
    """The format to write: --format, else OUT's extension; ValueError (the message for a
    person) when neither says, or for Parquet on stdout."""
    if out == STDOUT:
        if given is None:
            raise ValueError("give --format csv or --format ndjson to write to stdout (-)")
        if given == "parquet":
            raise ValueError("Parquet cannot go to stdout (it is written with seeks): give a "
                             "file name, or --format csv or ndjson")
        return given
    if given is not None:
        return given
    inferred = EXTENSIONS.get(out.suffix.lower())
    if inferred is None:
        raise ValueError(f"cannot tell the format from {out.name!r}: give --format csv, "
                         "parquet or ndjson (or name the file .csv, .parquet, .ndjson or .jsonl)")
    return inferred


def cmd_export(args: argparse.Namespace, application: app.App) -> int:
    from daemon.analytics.export import export, write_export
    from daemon.analytics.report import AnalyticsSettings

    try:
        fmt = export_format(args.out, args.format)
    except ValueError as exc:
        print(f"plexfm: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings = AnalyticsSettings.from_config(application.config)
    if args.out == STDOUT:
        sys.stdout.flush()
        try:
            rows = write_export(application.engine, settings, sys.stdout.buffer, fmt,
                                since=args.since, user=args.user)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            raise  # the reader stopped early: quiet (cli.main)
        except OSError as exc:  # one large write per chunk: stdout's buffer keeps nothing
            print(output_failed(exc), file=sys.stderr)
            return EXIT_FAILURE
        print(f"wrote {plural(rows, 'play')} to stdout ({fmt})", file=sys.stderr)
        return EXIT_OK
    try:
        result = export(application.engine, settings, args.out, fmt, since=args.since,
                        user=args.user)
    except OSError as exc:
        print(f"plexfm: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {plural(result.rows, 'play')} to {result.path} ({result.format})")
    return EXIT_OK
