"""The ListenBrainz export ZIP: listens/<year>/<month>.jsonl members, read in calendar order
(feedback, pins and user.json are not plays)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from daemon.importers import archive
from daemon.importers.listens import listen_line
from daemon.importers.report import ImportReport, emit
from daemon.importers.spec import Format, Head
from daemon.importers.text import lines, numbered
from daemon.scrobble import Scrobble

MEMBER = re.compile(r"(?:^|/)listens/(\d{4})/(\d{1,2})\.jsonl$")


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now

    def member(stream: IO[bytes], name: str) -> Iterator[Scrobble]:
        rows = numbered(lines(stream, report, name))
        yield from emit(rows, lambda text: listen_line(text, now), report, name)

    with archive.open_zip(path) as opened:
        infos = archive.members(opened, MEMBER, lambda m: int(m[1]) * 100 + int(m[2]))
        yield from archive.read_members(path, opened, infos, report, member)


def sniff(head: Head) -> bool:
    return any(MEMBER.search(name) for name in head.zip_names or ())


FORMAT = Format(
    "listenbrainz-zip", "the ListenBrainz export ZIP (`listens/<year>/<month>.jsonl` inside)",
    read, sniff, order=5, archive="listens/<year>/<month>.jsonl (ListenBrainz)", plain=False,
)
