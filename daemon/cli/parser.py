"""The argument parser: every subcommand, its options and its help.

Every subcommand has a description (its --help says what it does; when none is given, its
one-line help is the description), and `plexfm --help` lists them all.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

from daemon import __version__
from daemon.cli.exits import EXIT_USAGE
from daemon.importers.registry import FORMATS

EXPORT_FORMATS = ("csv", "parquet", "ndjson")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"plexfm: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands whose --help always carries a description (their help line, if no
    longer one is given)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("description", _sentence(kwargs.get("help")))
        return super().add_parser(name, **kwargs)  # type: ignore[no-any-return]


def _sentence(text: str | None) -> str | None:
    return f"{text[0].upper()}{text[1:]}." if text else None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="plexfm", description="last.fm history into Plex.",
                     epilog="'plexfm COMMAND --help' shows what a command does and its options. "
                     "Exit status: 0 success, 1 failure, 2 usage or configuration error.")
    parser.register("action", "parsers", _Commands)
    parser.add_argument("--version", action="version", version=f"plexfm {__version__}")
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PLEXFM_CONFIG, else ./config.yaml)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="override log.level")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                title="commands", metavar="COMMAND")
    init = sub.add_parser("init", help="write a commented config.yaml, finding Plex's "
                          "database and checking your last.fm user and key",
                          description="Write a commented configuration (the example file) "
                          "with Plex's database filled in when exactly one is found in the "
                          "usual places, and your last.fm user and API key (asked for on a "
                          "terminal, checked with last.fm when it can be reached).")
    init.add_argument("path", nargs="?", type=Path, metavar="PATH",
                      help="where to write (default: --config, $PLEXFM_CONFIG, ./config.yaml)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.add_argument("--lastfm-user", metavar="NAME", help="last.fm user name")
    init.add_argument("--lastfm-api-key", metavar="KEY", help="last.fm API key (32 hex)")
    init.add_argument("--plex-database", metavar="PATH", type=Path,
                      help="Plex's com.plexapp.plugins.library.db (default: searched for)")
    init.add_argument("--offline", action="store_true",
                      help="do not ask last.fm whether the user and key work")
    pull = sub.add_parser("pull", help="fetch scrobbles from last.fm (backfill, then new ones)")
    pull.add_argument("--full", action="store_true",
                      help="walk the whole history again (nothing is stored twice)")
    imp = sub.add_parser("import", help="import listening-history files (last.fm tools, "
                         "ListenBrainz, Spotify, Maloja, Pano Scrobbler, Libre.fm, players)")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--format", choices=FORMATS, help="skip detection, read as this format")
    imp.add_argument("--user", help="last.fm user the plays belong to (default: lastfm.user)")
    sub.add_parser("library", help="mirror the Plex music library, then re-match what changed")
    match = sub.add_parser("match", help="match scrobbled tracks (or record your decision)",
                           description="Match every scrobbled track not decided yet, or record "
                           "one decision of yours. Undoing a track nobody decided says so and "
                           "changes nothing (exit 0).")
    decision = match.add_mutually_exclusive_group()
    decision.add_argument("--full", action="store_true",
                          help="decide every track again (your own decisions are kept)")
    decision.add_argument("--accept", nargs=4, metavar=("ARTIST", "TITLE", "ALBUM", "RATING_KEY"),
                          help="match this scrobbled track to the library track RATING_KEY")
    decision.add_argument("--not-in-library", nargs=3, metavar=("ARTIST", "TITLE", "ALBUM"),
                          help="mark this scrobbled track as not in your library")
    decision.add_argument("--undo", nargs=3, metavar=("ARTIST", "TITLE", "ALBUM"),
                          help="forget the decision for this track (the next match decides)")
    listing = sub.add_parser("matches", help="every scrobbled track with its match",
                             description="Every scrobbled track, most played first, with its "
                             "status and library track (artist / title / album [rating key]); "
                             "queued tracks with their reason and best suggestion.")
    shape = listing.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON array of objects")
    shape.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    listing.add_argument("--status", choices=["auto", "manual", "not_in_library", "queued"],
                         help="only tracks with this status")
    search = sub.add_parser("search", help="find library tracks by artist, title or album",
                            description="Library tracks whose artist, title or album words "
                            "start with the words of TEXT (case and accents ignored), best "
                            "first, with their rating keys.")
    search.add_argument("text", nargs="+", metavar="TEXT")
    search.add_argument("--limit", type=_count, default=20, help="most tracks shown (20)")
    search.add_argument("--json", action="store_true", help="one JSON array of objects")
    resolve = sub.add_parser("resolve", help="work through the queue, one key per track",
                             description="Show the queued tracks one by one, most played "
                             "first, with the reason and suggestions; answer each with one "
                             "key: 1-5 accept a suggestion, n not in library, s skip for 7 "
                             "days, / search the library and pick, q quit. Decisions go to the "
                             "store as the status page's do.")
    resolve.add_argument("--artist", help="only tracks scrobbled under this artist (exactly)")
    resolve.add_argument("--stdin", action="store_true",
                         help="read the answers from a pipe, one per line (otherwise resolve "
                         "refuses to run without a terminal)")
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
    doctor = sub.add_parser("doctor", help="is it safe to apply to this Plex database? "
                            "(exit 0 safe, 1 not safe)")
    doctor.add_argument("--json", action="store_true", help="the report as one JSON object")
    doctor.add_argument("--database", type=Path, metavar="PATH",
                        help="Plex's database file (default: plex.database)")
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
    stats.add_argument("--top", type=_count, default=10, help="length of the top lists (10)")
    stats.add_argument("--user", help="whose plays (default: lastfm.user)")
    export = sub.add_parser("export", help="scrobbles with matches and genres for BigQuery, "
                            "DuckDB or Tableau (docs/export.md)",
                            description="Every scrobble with its match and genres, as CSV, "
                            "Parquet or NDJSON (docs/export.md). The format follows OUT's "
                            "extension (.csv, .parquet, .ndjson or .jsonl) unless --format "
                            "says; OUT '-' writes CSV or NDJSON to stdout.")
    export.add_argument("--format", choices=EXPORT_FORMATS,
                        help="csv, parquet or ndjson (default: from OUT's extension)")
    export.add_argument("out", type=Path, metavar="OUT",
                        help="file to write (replaced), or - for stdout")
    export.add_argument("--since", type=iso_date, metavar="DATE",
                        help="only plays on or after this local day (incremental exports)")
    export.add_argument("--user", help="only this last.fm user's plays (default: everyone's)")
    sub.add_parser("check-config", help="validate the configuration and print it (redacted)")
    sub.add_parser("web-password", help="read a status page password (stdin or prompt) and "
                   "print the hash to paste into web.password")
    return parser


def iso_date(text: str) -> date:
    """A YYYY-MM-DD command line argument."""
    try:
        if _ISO_DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"invalid date {text!r} (expected YYYY-MM-DD)")


def _count(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r} (expected 1 or more)")
    return value
