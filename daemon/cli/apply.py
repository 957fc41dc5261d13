"""Commands that write Plex's database: apply, revert, restore."""

from __future__ import annotations

import argparse
import sys

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK
from daemon.errors import ConfigError
from daemon.logs import plural


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
    if c.get("forgotten") or c.get("natives_gone"):
        print(f"{c['forgotten']:,} plays plexfm wrote and {c['natives_gone']:,} of Plex's own "
              "plays were no longer in Plex's database (restored or repaired?): forgotten")
    if c.get("out_of_range"):
        print(f"{c['out_of_range']:,} scrobbles skipped: their time is not within "
              "0 < time <= now + 1 day", file=sys.stderr)
    if c["mode"] == "dry-run":
        print(f"dry run: would write {plural(c['to_add'], 'play')} and remove "
              f"{c['to_remove']:,}; {c['already_in_plex']:,} already in Plex")
        return EXIT_OK
    print(f"wrote {plural(c['added'], 'play')}, removed {c['removed']:,}; "
          f"{c['already_in_plex']:,} already in Plex"
          + (f"; backup {c['backup']}" if c.get("backup") else ""))
    if c.get("unremovable"):
        print(f"{plural(c['unremovable'], 'play')} cannot be removed: written in api mode "
              "(Plex's API cannot unmark one play) or recorded before plexfm kept each row's "
              "fingerprint and not provably its own", file=sys.stderr)
    return EXIT_OK


def cmd_restore(args: argparse.Namespace, application: app.App) -> int:
    database = application.config.plex.database
    if not database:
        raise ConfigError("plex.database", "restore needs the path of Plex's database")
    applier = app.build_applier(application.config, application.engine)
    checked = applier.restore(args.backup)
    print(f"restored {args.backup} over {database}")
    if checked["forgotten"] or checked["natives_gone"]:
        print(f"{checked['forgotten']:,} plays plexfm had written are not in the restored "
              f"database and {checked['natives_gone']:,} of Plex's own plays it had counted are "
              "gone: forgotten, so 'plexfm apply' writes them again")
    else:
        print("every play plexfm wrote is in the restored database")
    return EXIT_OK
