"""lastfm.ghan.nl JSON: a list of user.getRecentTracks pages (or one response object). A
problem's line is the line where its page starts; now-playing items are left out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from daemon.importers import fields
from daemon.importers.jsonarray import Elements, json_array
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, LeftOut, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.scrobble import Scrobble

KEY = re.compile(r'"(?:recenttracks|track|#text)"\s*:')
_NOW_PLAYING = "now-playing item(s)"


def _label(obj: object) -> object:
    """The name in an API sub-object: `#text`, or `name` in the extended shape."""
    if isinstance(obj, dict):
        text = obj.get("#text")
        return obj.get("name") if text is None else text
    return obj


def _item(item: object, now: float) -> Scrobble:
    if not isinstance(item, dict):
        raise RowError("not a JSON object")
    nowplaying = fields.key(item.get("@attr"), "nowplaying")
    if "date" not in item or nowplaying in ("true", True):
        raise LeftOut(_NOW_PLAYING)
    artist, album, loved = item.get("artist"), item.get("album"), item.get("loved")
    return Scrobble(
        fields.uts(fields.key(item.get("date"), "uts"), "date.uts", now, undated_ok=True),
        fields.text(_label(artist), "artist"),
        fields.text(item.get("name"), "name"),
        fields.opt(_label(album), "album"),
        fields.opt(fields.key(artist, "mbid"), "artist mbid"),
        fields.opt(item.get("mbid"), "mbid"),
        fields.opt(fields.key(album, "mbid"), "album mbid"),
        int(loved) if loved in ("0", "1", 0, 1) else None,
    )


def _page_tracks(page: object) -> list[object]:
    """The track items of one page: a raw page, a full response, or a bare item."""
    if isinstance(page, dict) and "recenttracks" in page:
        page = page["recenttracks"]
    if not isinstance(page, dict):
        raise RowError("page is not a JSON object")
    if "track" not in page and "artist" in page:
        return [page]
    tracks = page.get("track", [])
    if isinstance(tracks, dict):
        return [tracks]
    if not isinstance(tracks, list):
        raise RowError(f"track is not a list: {fields.show(tracks)}")
    return tracks


def _tracks(pages: Elements, report: ImportReport) -> Iterator[tuple[int, tuple[int, object]]]:
    """(page position, (index in page, item)) for every item."""
    for position, page in pages:
        try:
            tracks = _page_tracks(page)
        except RowError as exc:
            report.skip(pages.line(position), str(exc))
            continue
        for index, item in enumerate(tracks, 1):
            yield position, (index, item)


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    now = report.now

    def parse(entry: tuple[int, object]) -> Scrobble:
        index, item = entry
        try:
            return _item(item, now)
        except RowError as exc:
            raise RowError(f"track {index}: {exc}") from None

    with open_regular(path) as stream:
        pages = json_array(stream, str(path), report)
        yield from emit(_tracks(pages, report), parse, report, locate=pages.line)


def sniff(head: Head) -> bool:
    return head.text.startswith(("[", "{")) and KEY.search(head.text) is not None


FORMAT = Format(
    "ghan-json", "the same site's JSON: a list of user.getRecentTracks pages", read, sniff,
    order=60, file_names=r"^(?:recenttracks|scrobbles)-.*\.json$",
)
