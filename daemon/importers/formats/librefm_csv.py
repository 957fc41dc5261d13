"""A Libre.fm export CSV: comment lines, a header naming at least Time, Artist and Track
(Album and a user id are optional, any order, any case), then one scrobble per line with
`Time` in Unix seconds. Libre.fm writes the file as UTF-7, so its comment lines read
`+ACM- Data export from Libre.fm`: then every line is decoded from UTF-7 ("Jay+AC0-Z" is
"Jay-Z"); a line that is not valid UTF-7 is read as it is, with a warning."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from daemon.errors import ImportFileError
from daemon.importers import fields
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.importers.text import csv_rows, lines
from daemon.scrobble import Scrobble

UTF7_COMMENT = "+ACM-"
_NEEDED = ("time", "artist", "track")


def _is_comment(text: str) -> bool:
    return text.lstrip().startswith(("#", UTF7_COMMENT))


def _header(text: str) -> list[str] | None:
    names = [name.strip(' "\ufeff').lower() for name in next(csv.reader([text]), [])]
    return names if all(name in names for name in _NEEDED) else None


def _from_utf7(text: str, bad: list[int], lineno: int) -> str:
    try:
        return text.encode("ascii").decode("utf-7")
    except UnicodeError:
        bad.append(lineno)
        return text


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        texts = lines(stream, report)
        utf7, offset, header = False, 0, None
        for text in texts:
            offset += 1
            if _is_comment(text) or not text.strip():
                utf7 = utf7 or text.lstrip().startswith(UTF7_COMMENT)
                continue
            header = _header(text)
            break
        if header is None:
            raise ImportFileError(f"{path}: no header line naming Time, Artist and Track")
        at = [header.index(name) for name in _NEEDED]
        album = header.index("album") if "album" in header else None
        bad: list[int] = []
        body = (
            _from_utf7(text, bad, offset + n) if utf7 else text for n, text in enumerate(texts, 1)
        )

        def parse(row: list[str]) -> Scrobble:
            if len(row) != len(header):
                raise RowError(f"expected {len(header)} fields, found {len(row)}")
            return Scrobble(
                fields.uts(row[at[0]], "Time", now),
                fields.text(row[at[1]], "Artist"),
                fields.text(row[at[2]], "Track"),
                fields.opt(row[album], "Album") if album is not None else "",
            )

        rows = ((offset + line, row) for line, row in csv_rows(body, report))
        yield from emit(rows, parse, report)
        if bad:
            report.warnings.append(
                f"{len(bad)} line(s) are not valid UTF-7 and were read as they are"
                f" (first: line {bad[0]})"
            )


def sniff(head: Head) -> bool:
    for text in head.text.splitlines():
        if _is_comment(text) or not text.strip():
            continue
        return _header(text) is not None and "uts" not in (_header(text) or [])
    return False


FORMAT = Format("librefm-csv", "a Libre.fm export CSV", read, sniff, order=65)
