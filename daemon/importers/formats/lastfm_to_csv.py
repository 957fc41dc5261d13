"""benjaminbenben.com's lastfm-to-csv (github.com/benfoxall/lastfm-to-csv): no header, one
scrobble per line as `artist,album,name,date`, the date in UTC to the minute, as last.fm
shows it: `22 May 2014 20:11` (the tool drops every comma and quote from the fields; newer
versions quote them instead and keep `22 May 2014, 20:11`). Rows without a date (the track
playing when the file was made) are left out. Only the minute is known, so these plays are
matched against stored plays to the minute (see docs/imports.md)."""

from __future__ import annotations

import calendar
import csv
import re
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

from daemon.importers import fields
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, LeftOut, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.importers.text import csv_rows, lines
from daemon.scrobble import Scrobble

DATE = re.compile(r"\s*(\d{1,2}) ([A-Za-z]{3}) (\d{4}),? (\d{1,2}):(\d{2})\s*")
MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name}
HEADER = ["artist", "album", "name", "date"]


def minute(text: str) -> int | None:
    """Unix seconds of a `22 May 2014 20:11` date (UTC), None when it is not one."""
    found = DATE.fullmatch(text)
    month = MONTHS.get(found[2].lower()) if found else None
    if found is None or month is None:
        return None
    day, year, hour, mins = int(found[1]), int(found[3]), int(found[4]), int(found[5])
    if not (1 <= day <= 31 and hour < 24 and mins < 60):
        return None
    return calendar.timegm((year, month, day, hour, mins, 0, 0, 0, 0))


def _row(row: list[str], now: float) -> Scrobble:
    if len(row) != 4:
        raise RowError(f"expected 4 fields (artist, album, name, date), found {len(row)}")
    artist, album, title, date = row
    if not date.strip():
        raise LeftOut("row(s) without a date (playing when the file was made)")
    uts = minute(date)
    if uts is None:
        raise RowError(f"date is not like '22 May 2014 20:11': {fields.show(date)}")
    return Scrobble(
        fields.check_uts(uts, "date", now),
        fields.text(artist, "artist"),
        fields.text(title, "name"),
        fields.opt(album, "album"),
    )


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        rows = csv_rows(lines(stream, report), report)
        first = next(rows, None)
        if first is None:
            return
        if [name.strip().lower() for name in first[1]] != HEADER:
            rows = chain([first], rows)
        yield from emit(rows, lambda row: _row(row, now), report)


def sniff(head: Head) -> bool:
    row = next(csv.reader([head.first_line]), [])
    if [name.strip().lower() for name in row] == HEADER:
        return True
    return len(row) == 4 and minute(row[3]) is not None


FORMAT = Format(
    "lastfm-to-csv", "benjaminbenben.com lastfm-to-csv (`artist,album,name,date`, no header)",
    read, sniff, order=75, precision=60,
)
