"""The names of plexfm's backups of Plex's database, and their rotation.

A backup is ``com.plexapp.plugins.library.<UTC stamp>[-n].db`` in the backup directory, written
through a hidden ``.<name>.partial`` file (`daemon.plex.backup`). Only files with these names are
ever deleted here: the oldest backups past ``apply.backups_keep``, and partial files an
interrupted backup left more than an hour ago.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

log = logging.getLogger(__name__)

BACKUP_PREFIX = "com.plexapp.plugins.library."
STALE_PARTIAL_SECONDS = 3600
BACKUP_NAME = re.compile(r"^com\.plexapp\.plugins\.library\.(\d{8}T\d{6}Z)(?:-(\d+))?\.db$")


def backup_name(dest_dir: Path, now: float) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    candidate = dest_dir / f"{BACKUP_PREFIX}{stamp}.db"
    n = 0
    while candidate.exists():
        n += 1
        candidate = dest_dir / f"{BACKUP_PREFIX}{stamp}-{n}.db"
    return candidate


def list_backups(dest_dir: Path) -> list[Path]:
    """Our backups in ``dest_dir``, oldest first (by the UTC stamp in the name)."""
    found: list[tuple[str, int, Path]] = []
    for entry in dest_dir.iterdir() if dest_dir.is_dir() else ():
        match = BACKUP_NAME.match(entry.name)
        if match and entry.is_file():
            found.append((match.group(1), int(match.group(2) or 0), entry))
    return [p for _, _, p in sorted(found)]


def rotate_backups(dest_dir: Path, keep: int, *, now: float | None = None) -> list[Path]:
    """Delete all but the newest ``keep`` backups, and ``.partial`` leftovers of killed backups
    older than `STALE_PARTIAL_SECONDS`; returns the deleted backups."""
    backups = list_backups(dest_dir)
    doomed = backups[: max(0, len(backups) - keep)]
    for old in doomed:
        old.unlink(missing_ok=True)
        log.info("Removed old Plex DB backup %s", old)
    cutoff = (time.time() if now is None else now) - STALE_PARTIAL_SECONDS
    for leftover in dest_dir.glob(f".{BACKUP_PREFIX}*.partial*"):
        if leftover.is_file() and leftover.stat().st_mtime < cutoff:
            leftover.unlink(missing_ok=True)
            log.info("Removed the leftover of an interrupted backup: %s", leftover)
    return doomed
