"""`plexfm doctor`: is it safe to apply to this Plex database? Plain words, or --json.

Exit status: 0 safe to apply, 1 not safe, 2 usage (no database given or configured).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK
from daemon.errors import ConfigError
from daemon.plex.doctor import PROBLEM, WARN, Diagnosis, DoctorInputs, diagnose

MARKS = {"ok": "ok  ", "info": "    ", "warn": "WARN", PROBLEM: "FAIL"}


def cmd_doctor(args: argparse.Namespace, application: app.App) -> int:
    config = application.config
    database = args.database or config.plex.database
    if not database:
        raise ConfigError("plex.database", "doctor needs Plex's database (set it, or pass "
                          "--database PATH)")
    backup_dir = Path(config.apply.backup_dir) if config.apply.backup_dir else \
        config.data_dir / "backups"
    inputs = DoctorInputs(
        database=Path(database), backup_dir=backup_dir, url=config.plex.url,
        token=config.plex.token, mode=config.apply.mode, stop_command=config.apply.stop_command,
        allow_unknown_schema=config.apply.allow_unknown_schema,
        timeout=min(config.plex.timeout_seconds, 10))
    diagnosis = diagnose(inputs)
    if args.json:
        print(json.dumps(diagnosis.as_json(), indent=2, sort_keys=False))
    else:
        print(render(diagnosis))
    return EXIT_OK if diagnosis.safe else EXIT_FAILURE


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis in plain words: one line per check, then the verdict and its reasons."""
    lines = [f"Plex database: {diagnosis.database}"]
    lines += [f"  {MARKS.get(f.status, '    ')} {f.summary}" for f in diagnosis.findings]
    if diagnosis.safe:
        warnings = sum(f.status == WARN for f in diagnosis.findings)
        lines.append("Verdict: safe to apply" + (f" ({warnings} warning(s) above)"
                                                  if warnings else ""))
    else:
        lines.append("Verdict: NOT safe to apply, because:")
        lines += [f"  - {reason}" for reason in diagnosis.reasons]
    return "\n".join(lines)
