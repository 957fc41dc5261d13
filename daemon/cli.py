"""The plexfm command line: argv to commands, and the only place errors become exit codes.

Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from daemon import __version__, app, ingest, jobs
from daemon.config import Config, load_config
from daemon.errors import ConfigError, PlexfmError
from daemon.importers import FORMATS
from daemon.logs import configure_logging
from daemon.progress import make_progress
from daemon.status import collect_status, format_status
from daemon.stopping import StopToken
from daemon.store.engine import write

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


def _web_password() -> int:
    """Print the hash of a password read from the terminal (asked twice) or from stdin."""
    import getpass

    from daemon.web.passwords import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("status page password: ")
        if getpass.getpass("again: ") != password:
            print("plexfm: the passwords differ", file=sys.stderr)
            return EXIT_USAGE
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("plexfm: use at least 8 characters", file=sys.stderr)
        return EXIT_USAGE
    print(hash_password(password))
    print("# paste into config.yaml as web.password (or PLEXFM_WEB_PASSWORD)", file=sys.stderr)
    return EXIT_OK


def iso_date(text: str) -> date:
    """A YYYY-MM-DD command line argument."""
    return date.fromisoformat(text)


def _cmd_stats(args: argparse.Namespace, application: app.App) -> int:
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


def _cmd_export(args: argparse.Namespace, application: app.App) -> int:
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


def _cmd_pull(args: argparse.Namespace, application: app.App) -> int:
    config = application.config
    client = app.build_lastfm_client(config)
    progress = make_progress("pull")
    try:
        result = application.runner.run(
            "pull",
            lambda: ingest.pull(client, application.engine, jobs.pull_settings(config),
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
    status = collect_status(application.engine, application.config.lastfm.user,
                            application.config.accounts)
    if args.json:
        print(json.dumps(status, sort_keys=True))
    else:
        print(format_status(status))
    return EXIT_OK


def _cmd_library(_args: argparse.Namespace, application: app.App) -> int:
    from daemon import reconcile  # pandas and the matcher load only for these commands

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


def _cmd_match(args: argparse.Namespace, application: app.App) -> int:
    from daemon import reconcile
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


def _cmd_matches(args: argparse.Namespace, application: app.App) -> int:
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


def _cmd_apply(args: argparse.Namespace, application: app.App) -> int:
    applier = app.build_applier(application.config, application.engine)
    revert_all = args.command == "revert"
    result = application.runner.run(
        "revert" if revert_all else "apply",
        lambda: applier.run(force_window=args.now, dry_run=args.dry_run, revert_all=revert_all),
    )
    if not result.ok:
        print(f"plexfm: {args.command} failed: {result.error}", file=sys.stderr)
        return EXIT_FAILURE
    c = result.counts
    if "skipped" in c:
        print(f"skipped: {c['skipped']}")
        return EXIT_OK
    if c["mode"] == "dry-run":
        print(f"dry run: would write {c['to_add']:,} plays and remove {c['to_remove']:,}; "
              f"{c['already_in_plex']:,} already in Plex")
        return EXIT_OK
    print(f"wrote {c['added']:,} plays, removed {c['removed']:,}; {c['already_in_plex']:,} "
          f"already in Plex" + (f"; backup {c['backup']}" if c.get("backup") else ""))
    if c.get("unremovable"):
        print(f"{c['unremovable']:,} plays written in api mode cannot be removed (Plex's API "
              "cannot unmark one play)", file=sys.stderr)
    return EXIT_OK


def _cmd_restore(args: argparse.Namespace, application: app.App) -> int:
    from daemon.plex.backup import restore_backup

    database = application.config.plex.database
    if not database:
        raise ConfigError("plex.database", "restore needs the path of Plex's database")
    restore_backup(args.backup, Path(database))
    print(f"restored {args.backup} over {database}; the plays plexfm wrote after that backup "
          "are gone from Plex: run 'plexfm apply' to write them again")
    return EXIT_OK


def _cmd_run(_args: argparse.Namespace, application: app.App) -> int:
    # pandas 3 imports pyarrow eagerly whenever it is installed (65 MB resident); the service
    # never writes Parquet (`plexfm export` does, in its own process), so keep it out here:
    # pandas then stores strings as Python objects. Must run before anything imports pandas.
    sys.modules.setdefault("pyarrow", None)  # type: ignore[arg-type]
    from daemon import service

    stop = StopToken()
    specs = app.service_jobs(application, stop)
    config = application.config
    from daemon.analytics.report import AnalyticsSettings

    return service.run(specs, application.runner, application.engine, config.web,
                       stop=stop, close=application.close, users=list(config.accounts),
                       window=config.apply_window, secrets=config.secrets(),
                       analytics=AnalyticsSettings.from_config(config))


def _cmd_healthcheck(_args: argparse.Namespace, application: app.App) -> int:
    from daemon.service import health_function

    specs = app.service_jobs(application, StopToken())
    health = health_function(application.engine, specs, None)()
    if health.ok:
        print("healthy")
        return EXIT_OK
    print("unhealthy: " + "; ".join(health.reasons))
    return EXIT_FAILURE


COMMANDS: dict[str, Callable[[argparse.Namespace, app.App], int]] = {
    "apply": _cmd_apply,
    "revert": _cmd_apply,
    "restore": _cmd_restore,
    "run": _cmd_run,
    "healthcheck": _cmd_healthcheck,
    "library": _cmd_library,
    "match": _cmd_match,
    "matches": _cmd_matches,
    "pull": _cmd_pull,
    "import": _cmd_import,
    "status": _cmd_status,
    "stats": _cmd_stats,
    "export": _cmd_export,
}


def _check_config(config: Config) -> int:
    print(f"# configuration from {config.source}: OK")
    data: dict[str, Any] = config.redacted()
    data["store"] = {**data["store"], "url": config.store_url, "data_dir": str(config.data_dir)}
    print(yaml.safe_dump(data, sort_keys=False), end="")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "web-password":  # needs no configuration
        return _web_password()
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
    except ConfigError as exc:  # a setting only this command needs
        print(f"plexfm: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PlexfmError as exc:
        print(f"plexfm: {redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("plexfm: interrupted", file=sys.stderr)
        return 130
    finally:
        application.close()
