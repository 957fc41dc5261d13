"""A ListenBrainz submission payload saved to a file, `{"listen_type": "import", "payload":
[listens]}`: what tools write to send history to ListenBrainz's /1/submit-listens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from daemon.importers.jsonarray import json_member
from daemon.importers.limits import open_regular
from daemon.importers.listens import listen
from daemon.importers.report import ImportReport, emit
from daemon.importers.spec import Format, Head
from daemon.scrobble import Scrobble

KEY = re.compile(r'"listen_type"\s*:')
PAYLOAD = re.compile(r'"payload"\s*:\s*\[')


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now
    with open_regular(path) as stream:
        listens = json_member(stream, str(path), report, "payload")
        yield from emit(listens, lambda obj: listen(obj, now), report)


def sniff(head: Head) -> bool:
    text = head.text
    return text.startswith("{") and bool(KEY.search(text)) and bool(PAYLOAD.search(text))


FORMAT = Format(
    "listenbrainz-payload",
    'a ListenBrainz import payload, `{"listen_type": "import", "payload": [...]}`',
    read, sniff, order=20,
)
