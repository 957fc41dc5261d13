"""Commands that write Plex's database: apply, revert, restore."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK
from daemon.errors import ConfigError


def cmd_apply(args: argparse.Namespace, application: app.App) -> int:
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


def cmd_restore(args: argparse.Namespace, application: app.App) -> int:
    from daemon.plex.backup import restore_backup

    database = application.config.plex.database
    if not database:
        raise ConfigError("plex.database", "restore needs the path of Plex's database")
    restore_backup(args.backup, Path(database))
    print(f"restored {args.backup} over {database}; the plays plexfm wrote after that backup "
          "are gone from Plex: run 'plexfm apply' to write them again")
    return EXIT_OK
