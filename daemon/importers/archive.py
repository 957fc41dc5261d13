"""ZIP exports: open one safely, pick its members, read them within the unpacked-size cap.

Python's zipfile never returns more bytes for a member than the size its directory declares,
so checking the declared sizes before reading anything bounds what an archive can unpack to
(a small "zip bomb" is refused at once, with its size, instead of filling memory or disk).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from daemon.errors import ImportFileError
from daemon.importers import limits
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport
from daemon.scrobble import Scrobble

MAGIC = b"PK\x03\x04"

MemberReader = Callable[[IO[bytes], str], Iterator[Scrobble]]


@contextmanager
def open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    """The archive at `path` (a regular file), closed afterwards."""
    stream = open_regular(path)
    try:
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ImportFileError(f"{path} is not a readable zip archive: {exc}") from exc
        with archive:
            yield archive
    finally:
        stream.close()


def names(path: Path) -> tuple[str, ...]:
    """The member names of the archive at `path`."""
    with open_zip(path) as archive:
        return tuple(archive.namelist())


def members(
    archive: zipfile.ZipFile, pattern: re.Pattern[str], order: Callable[[re.Match[str]], int]
) -> list[zipfile.ZipInfo]:
    """The members whose names match `pattern`, sorted by `order` of their match, then name."""
    found: list[tuple[int, str, zipfile.ZipInfo]] = []
    for info in archive.infolist():
        match = pattern.search(info.filename)
        if match and not info.is_dir():
            found.append((order(match), info.filename, info))
    return [info for *_, info in sorted(found, key=lambda item: item[:2])]


def read_members(
    path: Path,
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    report: ImportReport,
    read: MemberReader,
) -> Iterator[Scrobble]:
    """Every member through `read`, after checking what they would unpack to together."""
    total = sum(info.file_size for info in infos)
    if total > limits.MAX_UNZIPPED_BYTES:
        raise ImportFileError(
            f"{path} unpacks to {total:,} bytes, more than the {limits.MAX_UNZIPPED_BYTES:,}"
            " plexfm reads from an archive (a damaged or hostile file?)"
        )
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            report.warnings.append(f"{name}: encrypted, not read")
            continue
        try:
            with archive.open(info) as stream:
                yield from read(stream, name)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            report.warnings.append(f"{name}: damaged, the rest of it was not read: {exc}")
