"""Pano Scrobbler's JSONL file (its "scrobble to a file" account): one object per line,
`{"timeHuman", "timeMs", "artist", "track", "album", "albumArtist", "durationMs", ...,
"event"}`; `timeMs` is when the track started, in milliseconds. Only `"event": "scrobble"`
lines are plays (love and unlove events are left out)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from daemon.importers import fields
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, LeftOut, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.importers.text import lines, numbered
from daemon.scrobble import Scrobble

KEY = re.compile(r'"timeMs"\s*:')


def _line(text: str, now: float) -> Scrobble:
    obj = fields.json_line(text)
    if not isinstance(obj, dict):
        raise RowError("not a JSON object")
    event = obj.get("event", "scrobble")
    if event != "scrobble":
        raise LeftOut(f"{fields.opt(event, 'event') or 'unknown'} event(s)")
    millis = fields.number(obj.get("timeMs"), "timeMs")
    return Scrobble(
        fields.check_uts(millis // 1000, "timeMs", now),
        fields.text(obj.get("artist"), "artist"),
        fields.text(obj.get("track"), "track"),
        fields.opt(obj.get("album"), "album"),
    )


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        yield from emit(numbered(lines(stream, report)), lambda t: _line(t, now), report)


def sniff(head: Head) -> bool:
    return head.text.startswith("{") and bool(KEY.search(head.first_line))


FORMAT = Format("pano-jsonl", "Pano Scrobbler's JSONL file", read, sniff, order=30)
