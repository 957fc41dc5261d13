"""The formats plexfm reads, found by name: one module per format under `formats/`, each with
a `FORMAT`, so adding a format touches one file.

`detect_format` looks at the content first (each format's `sniff`, in `order`) and the file
name second. `read_export` streams a file's scrobbles; problems go to its report as they are
met.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import time
from collections.abc import Iterator
from pathlib import Path

from daemon.errors import ImportFileError
from daemon.importers import archive, formats
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport
from daemon.importers.spec import Format, Head
from daemon.scrobble import Scrobble

log = logging.getLogger(__name__)

HEAD_BYTES = 1 << 16
_REFUSED_STARTS = (
    (b"\x1f\x8b", "is gzip-compressed: unpack it first"),
    (b"\xff\xfe", "is UTF-16 or UTF-32 text, not UTF-8: save it as UTF-8"),
    (b"\xfe\xff", "is UTF-16 text, not UTF-8: save it as UTF-8"),
)


def _discover() -> dict[str, Format]:
    found: dict[str, Format] = {}
    for info in pkgutil.iter_modules(formats.__path__):
        fmt: Format = importlib.import_module(f"{formats.__name__}.{info.name}").FORMAT
        if fmt.name in found:
            raise RuntimeError(f"two import formats named {fmt.name}")
        found[fmt.name] = fmt
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


_FORMATS = _discover()
FORMATS: tuple[str, ...] = tuple(_FORMATS)


def format_named(name: str) -> Format:
    """The format called `name`; ImportFileError names the known ones."""
    try:
        return _FORMATS[name]
    except KeyError:
        raise ImportFileError(
            f"unknown import format {name!r}: known are {', '.join(FORMATS)}"
        ) from None


def read_head(path: Path) -> Head:
    """The first bytes of the file; refuses what is neither text nor a zip."""
    with open_regular(path) as stream:
        try:
            data = stream.read(HEAD_BYTES)
        except OSError as exc:
            raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if data.startswith(archive.MAGIC):
        return Head(path.name, data, archive.names(path))
    for start, problem in _REFUSED_STARTS:
        if data.startswith(start):
            raise ImportFileError(f"{path} {problem}")
    return Head(path.name, data)


def _zip_contents() -> str:
    return " or ".join(fmt.archive for fmt in _FORMATS.values() if fmt.archive)


def detect_format(path: Path) -> str:
    """The format of an export file, from its content first and its name second."""
    head = read_head(path)
    is_zip = head.zip_names is not None
    for fmt in _FORMATS.values():
        if (bool(fmt.archive) if is_zip else fmt.plain) and fmt.sniff(head):
            return fmt.name
    if is_zip:
        raise ImportFileError(
            f"cannot tell the format of {path}: a zip archive without {_zip_contents()}"
        )
    for fmt in _FORMATS.values():
        if fmt.file_names and fmt.plain and re.search(fmt.file_names, path.name, re.I):
            return fmt.name
    if not head.text.strip():
        why = "the file is empty"
    elif b"\x00" in head.data:
        why = "it holds NUL bytes (binary, or UTF-16 text without a byte order mark?)"
    else:
        why = "it matches no known export format"
    raise ImportFileError(f"cannot tell the format of {path}: {why}")


def _check_forced(path: Path, fmt: Format) -> None:
    head = read_head(path)
    if head.zip_names is not None:
        if not fmt.archive:
            raise ImportFileError(f"{path} is a zip archive: not {fmt.name}")
        if not fmt.sniff(head):
            raise ImportFileError(f"{path}: a zip archive without {fmt.archive}")
    elif not fmt.plain:
        raise ImportFileError(f"{path} is not a zip archive: not {fmt.name}")


def read_export(
    path: Path, report: ImportReport | None = None, fmt: str | None = None
) -> Iterator[Scrobble]:
    """Stream the scrobbles of an export file; problems go to `report` as they are met.

    The format is checked (or detected) now, so a file that is unreadable as a whole raises
    ImportFileError here; rows are read lazily as the result is iterated.
    """
    chosen = format_named(fmt) if fmt is not None else None
    if chosen is None:
        chosen = _FORMATS[detect_format(path)]
    else:
        _check_forced(path, chosen)
    if report is None:
        report = ImportReport(str(path), chosen.name)
    report.format = chosen.name
    return _run(chosen, path, report)


def _run(fmt: Format, path: Path, report: ImportReport) -> Iterator[Scrobble]:
    started = time.monotonic()
    try:
        yield from fmt.read(path, report)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc}") from exc
    report.finish()
    log.info(
        "read %s (%s) in %.1f s: %s rows, %s skipped, %s warnings",
        path, fmt.name, time.monotonic() - started, report.rows_read, report.skipped_count,
        len(report.warnings),
    )
