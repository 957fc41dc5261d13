"""Disc numbers of a music section's tracks, as the server reports them (``parentIndex``).

The database column behind a track's ``parentIndex`` is not known (docs/plex-fidelity.md), so
when plexfm reads the library from the database file and the server is configured, it asks
the server for the disc numbers: one listing of ``/library/sections/{id}/all?type=10`` in pages
(``X-Plex-Container-Start/Size`` headers), keeping only ``ratingKey`` and ``parentIndex``.
Plain values in; the token never appears in a message.
"""

from __future__ import annotations

import logging
from xml.etree import ElementTree

import requests

from daemon.errors import PlexError

log = logging.getLogger(__name__)

TRACK_TYPE = 10


class ServerDiscs:
    """``rating_key -> disc number`` of one section, read from the server at `url`."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0, page_size: int = 2000,
                 session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._page_size = max(page_size, 1)
        self._session = session or requests.Session()

    def __call__(self, section_id: int) -> dict[int, int]:
        """Every track's disc number (tracks without ``parentIndex`` are left out); raises
        `PlexError` when the server cannot be read."""
        discs: dict[int, int] = {}
        start = 0
        while True:
            root = self._page(section_id, start)
            items = list(root)
            for item in items:
                key, disc = item.get("ratingKey"), item.get("parentIndex")
                if key and key.isdigit() and disc and disc.isdigit():
                    discs[int(key)] = int(disc)
            start += len(items)
            total = root.get("totalSize")
            if not items or (total is not None and total.isdigit() and start >= int(total)):
                break
        log.debug("Plex at %s: %d disc numbers for section %s", self.url, len(discs),
                  section_id)
        return discs

    def _page(self, section_id: int, start: int) -> ElementTree.Element:
        try:
            response = self._session.get(
                f"{self.url}/library/sections/{section_id}/all", params={"type": TRACK_TYPE},
                headers={"X-Plex-Token": self._token, "X-Plex-Container-Start": str(start),
                         "X-Plex-Container-Size": str(self._page_size)},
                timeout=self._timeout)
        except requests.RequestException as exc:
            raise PlexError(f"cannot read disc numbers from Plex at {self.url}: "
                            f"{exc.__class__.__name__}") from None
        if response.status_code != 200:
            raise PlexError(f"Plex at {self.url} answered HTTP {response.status_code} "
                            "while listing disc numbers")
        try:  # the user's own server, as plexapi parses it
            return ElementTree.fromstring(response.content)  # noqa: S314
        except ElementTree.ParseError:
            raise PlexError(f"Plex at {self.url} sent unreadable XML while listing disc "
                            "numbers") from None
