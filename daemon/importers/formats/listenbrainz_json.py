"""The legacy ListenBrainz export: one JSON array of listens, `<user>_lb-YYYY-MM-DD.json`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from daemon.importers.jsonarray import json_array
from daemon.importers.limits import open_regular
from daemon.importers.listens import listen, listen_first
from daemon.importers.report import ImportReport, emit
from daemon.importers.spec import Format, Head
from daemon.scrobble import Scrobble


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        listens = json_array(stream, str(path), report)
        yield from emit(listens, lambda obj: listen(obj, now), report, locate=listens.line)


def sniff(head: Head) -> bool:
    return head.text.startswith("[") and listen_first(head.text)


FORMAT = Format(
    "listenbrainz-json", "the legacy ListenBrainz export, one JSON array (`*_lb-*.json`)",
    read, sniff, order=45, file_names=r"_lb-[0-9-]+\.json$",
)
