"""lastexport.py output: uts, track, artist, album, track/artist/album mbid, tab separated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from daemon.importers import fields
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.importers.text import lines, numbered, tab_rows
from daemon.scrobble import Scrobble


def _row(row: list[str], now: float) -> Scrobble:
    if len(row) != 7:
        raise RowError(f"expected 7 fields, found {len(row)}")
    uts, title, artist, album, track_mbid, artist_mbid, album_mbid = row
    return Scrobble(
        fields.uts(uts, "uts", now, undated_ok=True),
        fields.text(artist, "artist"),
        fields.text(title, "track"),
        fields.opt(album, "album"),
        fields.opt(artist_mbid, "artist mbid"),
        fields.opt(track_mbid, "track mbid"),
        fields.opt(album_mbid, "album mbid"),
    )


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        rows = tab_rows(numbered(lines(stream, report)))
        yield from emit(rows, lambda row: _row(row, now), report)


def sniff(head: Head) -> bool:
    row = head.first_line.split("\t")
    return len(row) == 7 and row[0].isdigit()


FORMAT = Format(
    "lastexport-tsv", "lastexport.py output (`uts, track, artist, album, mbids`, tab separated)",
    read, sniff, order=72, file_names=r"^exported_tracks\.txt$|\.tsv$",
)
