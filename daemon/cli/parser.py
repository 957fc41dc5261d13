"""The argument parser: every subcommand, its options and its help."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from daemon import __version__
from daemon.cli.exits import EXIT_USAGE
from daemon.importers.registry import FORMATS


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
    imp = sub.add_parser("import", help="import listening-history files (last.fm tools, "
                         "ListenBrainz, Spotify, Maloja, Pano Scrobbler, Libre.fm, players)")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--format", choices=FORMATS, help="skip detection, read as this format")
    imp.add_argument("--user", help="last.fm user the plays belong to (default: lastfm.user)")
    sub.add_parser("library", help="mirror the Plex music library, then re-match what changed")
    match = sub.add_parser("match", help="match scrobbled tracks (or record your decision)")
    decision = match.add_mutually_exclusive_group()
    decision.add_argument("--full", action="store_true",
                          help="decide every track again (your own decisions are kept)")
    decision.add_argument("--accept", nargs=4, metavar=("ARTIST", "TITLE", "ALBUM", "RATING_KEY"),
                          help="match this scrobbled track to the library track RATING_KEY")
    decision.add_argument("--not-in-library", nargs=3, metavar=("ARTIST", "TITLE", "ALBUM"),
                          help="mark this scrobbled track as not in your library")
    decision.add_argument("--undo", nargs=3, metavar=("ARTIST", "TITLE", "ALBUM"),
                          help="forget the decision for this track (the next match decides)")
    listing = sub.add_parser("matches", help="every scrobbled track with its match")
    shape = listing.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON array of objects")
    shape.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    listing.add_argument("--status", choices=["auto", "manual", "not_in_library", "queued"],
                         help="only tracks with this status")
    apply = sub.add_parser("apply", help="write matched plays into Plex (in the window)")
    apply.add_argument("--dry-run", action="store_true", help="report what would change")
    apply.add_argument("--now", action="store_true",
                       help="ignore the window (not the lock, not the running-Plex check)")
    revert = sub.add_parser("revert", help="remove plays plexfm wrote into Plex")
    revert.add_argument("--all", action="store_true", required=True,
                        help="every play plexfm wrote (Plex's own plays are never touched)")
    revert.add_argument("--now", action="store_true", help="ignore the window")
    revert.add_argument("--dry-run", action="store_true", help="report what would change")
    restore = sub.add_parser("restore", help="put a backup of Plex's database back (Plex "
                             "must be stopped)")
    restore.add_argument("backup", type=Path, metavar="BACKUP")
    sub.add_parser("run", help="run the service: scheduled jobs and the web server")
    sub.add_parser("healthcheck", help="exit 0 when every enabled job is healthy, 1 otherwise")
    status = sub.add_parser("status", help="what the store holds")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    stats = sub.add_parser("stats", help="listening analytics: genres, hours, years, seasons, "
                           "top lists, streaks")
    stats.add_argument("--json", action="store_true", help="every aggregate as one JSON object")
    span = stats.add_mutually_exclusive_group()
    span.add_argument("--year", type=int, help="one calendar year (local time)")
    span.add_argument("--from", dest="first", type=iso_date, metavar="DATE",
                      help="first local day (YYYY-MM-DD; default: the first play)")
    stats.add_argument("--to", dest="last", type=iso_date, metavar="DATE",
                       help="last local day, included (default: the last play)")
    stats.add_argument("--top", type=int, default=10, help="length of the top lists (10)")
    stats.add_argument("--user", help="whose plays (default: lastfm.user)")
    export = sub.add_parser("export", help="scrobbles with matches and genres for BigQuery, "
                            "DuckDB or Tableau (docs/export.md)")
    export.add_argument("--format", choices=["csv", "parquet", "ndjson"], required=True)
    export.add_argument("out", type=Path, metavar="OUT", help="file to write (replaced)")
    export.add_argument("--since", type=iso_date, metavar="DATE",
                        help="only plays on or after this local day (incremental exports)")
    export.add_argument("--user", help="only this last.fm user's plays (default: everyone's)")
    sub.add_parser("check-config", help="validate the configuration and print it (redacted)")
    sub.add_parser("web-password", help="read a status page password (stdin or prompt) and "
                   "print the hash to paste into web.password")
    return parser


def iso_date(text: str) -> date:
    """A YYYY-MM-DD command line argument."""
    return date.fromisoformat(text)
