"""lastfm.ghan.nl / mainstream.ghan.nl CSV: uts,utc_time,artist,artist_mbid,album,... (the
header is optional; a header may reorder or omit columns, but needs uts, artist and track)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path

from daemon.errors import ImportFileError
from daemon.importers import fields
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.importers.text import csv_rows, lines
from daemon.scrobble import Scrobble

COLUMNS = ("uts", "utc_time", "artist", "artist_mbid", "album", "album_mbid", "track",
           "track_mbid")  # fmt: skip
_WANTED = ("uts", "artist", "track", "album", "artist_mbid", "track_mbid", "album_mbid")


def _parser(
    header: list[str] | None, path: Path, now: float
) -> Callable[[list[str]], Scrobble]:
    names = [name.strip().lower() for name in header] if header else list(COLUMNS)
    missing = [name for name in ("uts", "artist", "track") if name not in names]
    if missing:
        raise ImportFileError(f"{path}: the CSV header has no {', '.join(missing)} column")
    width = len(names)
    at = [names.index(name) if name in names else width for name in _WANTED]

    def parse(row: list[str]) -> Scrobble:
        if len(row) != width:
            raise RowError(f"expected {width} fields, found {len(row)}")
        row.append("")  # what an absent optional column reads
        album, artist_mbid, track_mbid, album_mbid = (
            fields.opt(row[i], name) for i, name in zip(at[3:], _WANTED[3:], strict=True)
        )
        return Scrobble(
            fields.uts(row[at[0]], "uts", now, undated_ok=True),
            fields.text(row[at[1]], "artist"),
            fields.text(row[at[2]], "track"),
            album, artist_mbid, track_mbid, album_mbid,
        )

    return parse


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    with open_regular(path) as stream:
        rows: Iterator[tuple[int, list[str]]] = csv_rows(lines(stream, report), report)
        first = next(rows, None)
        if first is None:
            return
        if "uts" in (name.strip().lower() for name in first[1]):
            parse = _parser(first[1], path, report.now)
        else:
            parse, rows = _parser(None, path, report.now), chain([first], rows)
        yield from emit(rows, parse, report)


def sniff(head: Head) -> bool:
    row = next(csv.reader([head.first_line]), [])
    names = [name.strip().lower() for name in row]
    return ("uts" in names and "artist" in names) or (len(row) == 8 and row[0].isdigit())


FORMAT = Format(
    "ghan-csv", "lastfm.ghan.nl / mainstream.ghan.nl CSV (`recenttracks-*.csv`)", read, sniff,
    order=70, file_names=r"^(?:recenttracks|scrobbles)-.*\.csv$",
)
