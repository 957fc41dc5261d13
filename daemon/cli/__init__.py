"""The plexfm command line: argv to commands, and the only place errors become exit codes.

Exit status: 0 success, 1 runtime failure, 2 usage or configuration error. Each command lives
in the module of its concern (ingest, matching, apply, analytics, service) and takes the parsed
arguments and the composed application. Output read by a program that stops early (`plexfm
matches | head`) ends the command quietly with status 0, as if it had finished: the reader
had all it wanted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from daemon import app
from daemon.cli import analytics, apply, doctor, ingest, matching, resolve, service
from daemon.cli.exits import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    OUTPUT_ERRNOS,
    output_failed,
)
from daemon.cli.init import cmd_init
from daemon.cli.parser import build_parser
from daemon.config import Config, load_config
from daemon.errors import ConfigError, PlexfmError
from daemon.logs import configure_logging

log = logging.getLogger("plexfm")

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

COMMANDS: dict[str, Callable[[argparse.Namespace, app.App], int]] = {
    "apply": apply.cmd_apply,
    "revert": apply.cmd_apply,
    "restore": apply.cmd_restore,
    "doctor": doctor.cmd_doctor,
    "run": service.cmd_run,
    "healthcheck": service.cmd_healthcheck,
    "library": matching.cmd_library,
    "match": matching.cmd_match,
    "matches": matching.cmd_matches,
    "search": resolve.cmd_search,
    "resolve": resolve.cmd_resolve,
    "pull": ingest.cmd_pull,
    "import": ingest.cmd_import,
    "status": ingest.cmd_status,
    "stats": analytics.cmd_stats,
    "export": analytics.cmd_export,
}


def _check_config(config: Config) -> int:
    warnings = config.warnings()
    verdict = "OK" if not warnings else f"valid, {len(warnings)} warning(s)"
    print(f"# configuration from {config.source}: {verdict}")
    for warning in warnings:
        print(f"plexfm: warning: {warning}", file=sys.stderr)
    data: dict[str, Any] = config.redacted()
    data["store"] = {**data["store"], "url": config.store_url, "data_dir": str(config.data_dir)}
    print(yaml.safe_dump(data, sort_keys=False), end="")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe is caught
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_OK
    except OSError as exc:
        if exc.filename is not None or exc.errno not in OUTPUT_ERRNOS:
            raise
        print(output_failed(exc), file=sys.stderr)
        _discard_stdout()
        return EXIT_FAILURE
    return status


def _discard_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered goes nowhere instead of failing
    again at interpreter exit ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no file (a test's capture): nothing buffered
        pass


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "web-password":  # needs no configuration
        return service.web_password()
    if args.command == "init":  # writes the configuration
        return cmd_init(args)
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
        return EXIT_INTERRUPTED
    finally:
        application.close()
