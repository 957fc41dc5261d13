"""A Maloja export, `maloja_export_<time>.json`: `{"maloja": {...}, "scrobbles": [...]}`, each
scrobble `{"time", "track": {"artists": [...], "title", "album": {"albumtitle"}}}` (older
exports name the album `name`). Several artists are joined with ", "."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from daemon.importers import fields
from daemon.importers.jsonarray import json_member
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.scrobble import Scrobble

SCROBBLES = re.compile(r'"scrobbles"\s*:\s*\[')
MALOJA = re.compile(r'"maloja"\s*:|"time"\s*:')


def _artists(value: object) -> str:
    if isinstance(value, str):
        return fields.text(value, "track.artists")
    if not isinstance(value, list) or not value:
        raise RowError("track.artists is missing")
    names = [fields.text(name, "track.artists") for name in value]
    return fields.text(", ".join(names), "track.artists")


def _scrobble(obj: object, now: float) -> Scrobble:
    track = fields.key(obj, "track")
    if not isinstance(track, dict):
        raise RowError("no track object")
    album = track.get("album")
    return Scrobble(
        fields.uts(fields.key(obj, "time"), "time", now),
        _artists(track.get("artists")),
        fields.text(track.get("title"), "track.title"),
        fields.opt(fields.key(album, "albumtitle") or fields.key(album, "name"), "album"),
    )


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        scrobbles = json_member(stream, str(path), report, "scrobbles")
        yield from emit(scrobbles, lambda obj: _scrobble(obj, now), report)


def sniff(head: Head) -> bool:
    text = head.text
    return text.startswith("{") and bool(SCROBBLES.search(text)) and bool(MALOJA.search(text))


FORMAT = Format(
    "maloja", "a Maloja export (`maloja_export_*.json`)", read, sniff, order=25,
    file_names=r"^maloja_export_.*\.json$",
)
