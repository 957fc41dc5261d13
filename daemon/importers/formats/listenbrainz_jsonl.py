"""A ListenBrainz .jsonl file (one listen per line), as in the export ZIP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from daemon.importers.limits import open_regular
from daemon.importers.listens import listen_first, listen_line
from daemon.importers.report import ImportReport, emit
from daemon.importers.spec import Format, Head
from daemon.importers.text import lines, numbered
from daemon.scrobble import Scrobble


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        yield from emit(numbered(lines(stream, report)), lambda t: listen_line(t, now), report)


def sniff(head: Head) -> bool:
    return head.text.startswith("{") and listen_first(head.first_line)


FORMAT = Format(
    "listenbrainz-jsonl", "one `listens/<year>/<month>.jsonl` file of a ListenBrainz export",
    read, sniff, order=40, file_names=r"\.jsonl$",
)
