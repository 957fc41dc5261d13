"""The import job: export files into the store, each play stored once whatever its source.

Files are read one by one. Rows go to the store in batches with the same identity dedupe as
the last.fm pull, and plays another source already stored are merged, not doubled
(`store.merge`). A file that holds no play that can be imported is *refused* (its reason is
returned, the other files are still imported): a wrong format read as another must never
look like a success that imported nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from daemon.errors import ImportFileError
from daemon.importers.limits import open_regular
from daemon.importers.registry import format_named, read_export
from daemon.importers.report import ImportReport
from daemon.scrobble import OrdinalCounter, Scrobble, with_ordinals
from daemon.store import merge
from daemon.store.engine import write
from daemon.store.tables import imports as imports_table

log = logging.getLogger(__name__)

IMPORT_BATCH = 50_000
SHOWN_PROBLEMS = 100


def source_of(fmt: str) -> str:
    """The `source` column of a format's plays."""
    return f"import:{fmt}"


def import_files(
    engine: Engine,
    paths: Iterable[Path],
    user: str,
    *,
    fmt: str | None = None,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Import export files; count what happened, list problems, warnings and refused files."""
    totals: dict[str, Any] = {"files": 0, "read": 0, "added": 0, "merged": 0, "already": 0,
                              "skipped": 0, "problems": [], "warnings": [], "refused": []}
    for path in paths:
        report = ImportReport(path=str(path), format=fmt or "", now=now())
        try:
            stored = _import_one(engine, path, user, report, fmt)
        except ImportFileError as exc:
            totals["refused"].append(str(exc))
            log.warning("import of %s refused: %s", path, exc)
            continue
        totals["files"] += 1
        totals["read"] += report.rows_read
        totals["added"] += stored.added
        totals["merged"] += stored.merged
        totals["already"] += stored.already
        totals["skipped"] += report.skipped_count
        totals["problems"].extend(
            f"{path}:{p.member + ':' if p.member else ''}{p.line}: {p.reason}"
            for p in report.skipped[:SHOWN_PROBLEMS]
        )
        totals["warnings"].extend(f"{path}: {warning}" for warning in report.warnings)
        if report.imported == 0:
            totals["refused"].append(_nothing_imported(path, report))
        with write(engine) as conn:
            conn.execute(insert(imports_table).values(
                path=str(path), sha256=_sha256(path), format=report.format, user=user,
                imported_at=int(now()), rows_read=report.rows_read, rows_added=stored.added,
                rows_skipped=report.skipped_count,
            ))
        log.info("imported %s (%s): %s read, %s new, %s merged, %s already stored, %s skipped",
                 path, report.format, report.rows_read, stored.added, stored.merged,
                 stored.already, report.skipped_count)
    return totals


def _nothing_imported(path: Path, report: ImportReport) -> str:
    """Why a file gave no play, in one line."""
    head = f"{path}: no play imported (read as {report.format})"
    if report.skipped:
        first = report.skipped[0]
        where = f"{first.member}:" if first.member else ""
        return (f"{head}: all {report.skipped_count:,} rows were skipped, the first at line"
                f" {where}{first.line}: {first.reason}")
    left = [w for w in report.warnings if w.startswith("left out")]
    if left:
        return f"{head}: {'; '.join(left)}"
    return f"{head}: the file holds no plays this format can read"


def _import_one(
    engine: Engine, path: Path, user: str, report: ImportReport, fmt: str | None
) -> merge.Stored:
    # Ordinals must count identical plays across the whole file, not per batch.
    seen: OrdinalCounter = {}
    batch: list[Scrobble] = []
    total = merge.Stored()
    plays = read_export(path, report, fmt)
    source, precision = source_of(report.format), format_named(report.format).precision

    def flush() -> None:
        rows = with_ordinals(batch, seen)
        batch.clear()
        with write(engine) as conn:
            stored = merge.store_plays(conn, user, rows, source, precision=precision)
        total.added += stored.added
        total.merged += stored.merged
        total.already += stored.already

    for scrobble in plays:
        batch.append(scrobble)
        if len(batch) >= IMPORT_BATCH:
            flush()
    flush()
    return total


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
