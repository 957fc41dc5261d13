"""The import job: export files into the store, with the same dedupe as the last.fm pull."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from daemon.importers import readers as importers
from daemon.scrobble import OrdinalCounter, Scrobble, with_ordinals
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from daemon.store.tables import imports as imports_table

log = logging.getLogger(__name__)

IMPORT_BATCH = 50_000


def import_files(
    engine: Engine,
    paths: Iterable[Path],
    user: str,
    *,
    fmt: str | None = None,
) -> dict[str, Any]:
    """Import export files into the store with the same dedupe as the API; count what happened."""
    totals: dict[str, Any] = {"files": 0, "read": 0, "added": 0, "skipped": 0, "problems": []}
    for path in paths:
        report = importers.ImportReport(path=str(path), format=fmt or "")
        added = _import_one(engine, path, user, report, fmt)
        skipped = report.skipped_count
        totals["files"] += 1
        totals["read"] += report.rows_read
        totals["added"] += added
        totals["skipped"] += skipped
        totals["problems"].extend(
            f"{path}:{p.member + ':' if p.member else ''}{p.line}: {p.reason}"
            for p in report.skipped[:100]
        )
        with write(engine) as conn:
            conn.execute(insert(imports_table).values(
                path=str(path), sha256=_sha256(path), format=report.format, user=user,
                imported_at=int(time.time()), rows_read=report.rows_read, rows_added=added,
                rows_skipped=skipped,
            ))
        log.info("imported %s (%s): %s read, %s new, %s skipped", path, report.format,
                 report.rows_read, added, skipped)
    return totals


def _import_one(
    engine: Engine, path: Path, user: str, report: importers.ImportReport, fmt: str | None
) -> int:
    # Ordinals must count identical plays across the whole file, not per batch.
    seen: OrdinalCounter = {}
    batch: list[Scrobble] = []
    added = 0

    def flush() -> int:
        rows = with_ordinals(batch, seen)
        batch.clear()
        with write(engine) as conn:
            return scrobble_queries.insert_rows(conn, user, rows, f"import:{report.format}")

    for scrobble in importers.read_export(path, report, fmt):
        batch.append(scrobble)
        if len(batch) >= IMPORT_BATCH:
            added += flush()
    return added + flush()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
