"""Audioscrobbler .scrobbler.log written by portable players (Rockbox and others): header
lines, then artist, album, track, number, duration, L/S rating, timestamp, track MBID."""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

from daemon.importers import fields
from daemon.importers.clockreset import clock_resets
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.importers.text import lines, numbered, tab_rows
from daemon.scrobble import Scrobble


def _row(row: list[str], local_time: bool, now: float) -> Scrobble:
    if len(row) not in (7, 8):
        raise RowError(f"expected 8 fields, found {len(row)}")
    artist, album, title, _number, _duration, rating, timestamp = row[:7]
    if rating == "S":
        raise RowError("skipped track (rating S)")
    if rating != "L":
        raise RowError(f"rating is not L or S: {fields.show(rating)}")
    uts = fields.number(timestamp, "timestamp")
    if local_time and uts > 0:
        uts = int(time.mktime((*time.gmtime(uts)[:8], -1)))
    return Scrobble(
        fields.check_uts(uts, "timestamp", now),
        fields.text(artist, "artist"),
        fields.text(title, "track"),
        fields.opt(album, "album"),
        "",
        fields.opt(row[7] if len(row) == 8 else "", "track mbid"),
    )


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        texts = numbered(lines(stream, report))
        header: dict[str, str] = {}
        body: Iterable[tuple[int, str]] = texts
        for lineno, text in texts:
            if not text.startswith("#"):
                body = chain([(lineno, text)], texts)
                break
            key, _, value = text[1:].strip().partition("/")
            header[key.upper()] = value
        zone = header.get("TZ", "").upper()
        local = zone != "UTC"
        if local:
            report.warnings.append(
                f"timestamps are the player's local time (#TZ/{zone or 'missing'}):"
                f" converted with this machine's time zone ({'/'.join(time.tzname)})"
            )
        at, stamps = array("q"), array("q")
        current = [0]

        def tracked() -> Iterator[tuple[int, list[str]]]:
            for line, row in tab_rows(body):
                current[0] = line
                yield line, row

        for scrobble in emit(tracked(), lambda row: _row(row, local, now), report):
            at.append(current[0])
            stamps.append(scrobble.uts)
            yield scrobble
    report.warnings.extend(clock_resets(at, stamps))


def sniff(head: Head) -> bool:
    line = head.first_line
    row = line.split("\t")
    return line.startswith("#AUDIOSCROBBLER/") or (
        len(row) in (7, 8) and row[5] in ("L", "S") and row[6].isdigit()
    )


FORMAT = Format(
    "scrobbler-log", "Rockbox / portable players' `.scrobbler.log`", read, sniff, order=10,
    file_names=r"(?:^|\.)scrobbler\.log$",
)
