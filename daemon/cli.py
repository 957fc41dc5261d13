"""The plexfm command line: argv to commands, and the only place errors become exit codes.

Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from daemon import __version__, app, ingest
from daemon.config import Config, load_config
from daemon.errors import ConfigError, PlexfmError
from daemon.importers import FORMATS
from daemon.logs import configure_logging
from daemon.progress import make_progress
from daemon.status import collect_status, format_status

log = logging.getLogger("plexfm")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"plexfm: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="plexfm", description="last.fm history into Plex.")
    parser.add_argument("--version", action="version", version=f"plexfm {__version__}")
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PLEXFM_CONFIG, else ./config.yaml)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="override log.level")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    pull = sub.add_parser("pull", help="fetch scrobbles from last.fm (backfill, then new ones)")
    pull.add_argument("--full", action="store_true",
                      help="walk the whole history again (nothing is stored twice)")
    imp = sub.add_parser("import", help="import last.fm / ListenBrainz export files")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--format", choices=FORMATS, help="skip detection, read as this format")
    imp.add_argument("--user", help="last.fm user the plays belong to (default: lastfm.user)")
    status = sub.add_parser("status", help="what the store holds")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("check-config", help="validate the configuration and print it (redacted)")
    return parser


def _cmd_pull(args: argparse.Namespace, application: app.App) -> int:
    config = application.config
    client = app.build_lastfm_client(config)
    progress = make_progress("pull")
    try:
        result = application.runner.run(
            "pull",
            lambda: ingest.pull(client, application.engine, app.pull_settings(config),
                              full=args.full, progress=progress),
        )
    finally:
        progress.close()
        client.close()
    if not result.ok:
        print(f"plexfm: pull failed: {result.error}", file=sys.stderr)
        return EXIT_FAILURE
    counts = result.counts
    print(f"fetched {counts['fetched']:,} scrobbles, {counts['added']:,} new, in "
          f"{counts['requests']:,} requests; backfill "
          f"{'complete' if counts['backfill_complete'] else 'incomplete'}")
    return EXIT_OK


def _cmd_import(args: argparse.Namespace, application: app.App) -> int:
    user = args.user or application.config.lastfm.user
    result = application.runner.run(
        "import", lambda: ingest.import_files(application.engine, args.files, user, fmt=args.format)
    )
    if not result.ok:
        print(f"plexfm: import failed: {result.error}", file=sys.stderr)
        return EXIT_FAILURE
    counts = result.counts
    for problem in counts["problems"]:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"imported {counts['files']} file(s): {counts['read']} rows read, "
          f"{counts['added']} new, {counts['skipped']} skipped")
    return EXIT_OK


def _cmd_status(args: argparse.Namespace, application: app.App) -> int:
    status = collect_status(application.engine, application.config.lastfm.user)
    if args.json:
        print(json.dumps(status, sort_keys=True))
    else:
        print(format_status(status))
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, app.App], int]] = {
    "pull": _cmd_pull,
    "import": _cmd_import,
    "status": _cmd_status,
}


def _check_config(config: Config) -> int:
    print(f"# configuration from {config.source}: OK")
    data: dict[str, Any] = config.redacted()
    data["store"] = {**data["store"], "url": config.store_url, "data_dir": str(config.data_dir)}
    print(yaml.safe_dump(data, sort_keys=False), end="")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"plexfm: {exc}", file=sys.stderr)
        return EXIT_USAGE
    redact = configure_logging(args.log_level or config.log.level, config.secrets())
    if args.command == "check-config":
        return _check_config(config)
    try:
        application = app.build(config, redact)
    except PlexfmError as exc:
        print(f"plexfm: {redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        return COMMANDS[args.command](args, application)
    except PlexfmError as exc:
        print(f"plexfm: {redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("plexfm: interrupted", file=sys.stderr)
        return 130
    finally:
        application.close()
