"""Questions for a running Plex server before the maintenance window touches its database.

Is it up? Is anyone playing (sessions, through plexapi)? When does Plex's own Butler run
(ButlerStartHour/ButlerEndHour, so the window can avoid it)? Plain values in; the token never
appears in an error message.
"""

from __future__ import annotations

import logging
from typing import Any
from xml.etree import ElementTree

import requests

from daemon.errors import PlexError

log = logging.getLogger(__name__)


class PlexServerProbe:
    """A Plex server at `url` with `token`; every call has a timeout."""

    def __init__(self, url: str, token: str, *, timeout: float = 5.0,
                 session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._session = session or requests.Session()

    def reachable(self) -> bool:
        """True when the server answers at all (it is running)."""
        try:  # a fresh connection: a pooled keep-alive one says nothing about the server now
            requests.get(f"{self.url}/identity", timeout=self._timeout,
                         headers={"Connection": "close"})
        except requests.RequestException:
            return False
        return True

    def active_sessions(self) -> int:
        """How many streams are playing now (PlexError when it cannot be told)."""
        from plexapi.server import PlexServer  # imported on use: plexapi is slow to import

        try:
            server: Any = PlexServer(  # type: ignore[no-untyped-call]
                self.url, self._token, session=self._session, timeout=self._timeout)
            return len(server.sessions())
        except Exception as exc:  # plexapi raises many kinds; none may carry the token out
            raise PlexError(f"cannot list Plex sessions at {self.url}: "
                            f"{exc.__class__.__name__}") from None

    def mark_played(self, rating_key: int) -> None:
        """Plex's "mark played" (GET /:/scrobble): view_count + 1, last played = now."""
        try:
            response = self._session.get(
                f"{self.url}/:/scrobble", params={"key": str(rating_key),
                                                  "identifier": "com.plexapp.plugins.library"},
                headers={"X-Plex-Token": self._token}, timeout=self._timeout)
        except requests.RequestException as exc:
            raise PlexError(f"cannot reach Plex at {self.url}: {exc.__class__.__name__}") from None
        if response.status_code != 200:
            raise PlexError(f"Plex refused to mark {rating_key} played: HTTP "
                            f"{response.status_code}")

    def track_state(self, rating_key: int) -> tuple[int, int | None]:
        """(viewCount, lastViewedAt) of a track as the server shows it to the token's account
        (``GET /library/metadata/{key}``; absent attributes are 0 and None, as PMS omits them
        for a track never played). `PlexError` when it cannot be told."""
        try:
            response = self._session.get(f"{self.url}/library/metadata/{int(rating_key)}",
                                         headers={"X-Plex-Token": self._token},
                                         timeout=self._timeout)
            root = ElementTree.fromstring(response.content)  # noqa: S314 - see butler_hours
        except (requests.RequestException, ElementTree.ParseError) as exc:
            raise PlexError(f"cannot read track {rating_key} from Plex at {self.url}: "
                            f"{exc.__class__.__name__}") from None
        track = root.find("Track")
        if response.status_code != 200 or track is None:
            raise PlexError(f"Plex at {self.url} has no track {rating_key} (HTTP "
                            f"{response.status_code})")
        count, last = track.get("viewCount"), track.get("lastViewedAt")
        return (int(count) if count and count.isdigit() else 0,
                int(last) if last and last.lstrip("-").isdigit() else None)

    def history(self, account_id: int, *, page: int = 1000) -> dict[int, list[int]]:
        """rating_key -> sorted viewedAt of the account's play history (all pages)."""
        plays: dict[int, list[int]] = {}
        start = 0
        while True:
            try:
                response = self._session.get(
                    f"{self.url}/status/sessions/history/all",
                    params={"accountID": str(account_id), "sort": "viewedAt:asc"},
                    headers={"X-Plex-Token": self._token, "X-Plex-Container-Start": str(start),
                             "X-Plex-Container-Size": str(page)}, timeout=self._timeout)
                root = ElementTree.fromstring(response.content)  # noqa: S314 - see butler_hours
            except (requests.RequestException, ElementTree.ParseError) as exc:
                raise PlexError(f"cannot read Plex's play history at {self.url}: "
                                f"{exc.__class__.__name__}") from None
            items = list(root)
            for item in items:
                key, viewed = item.get("ratingKey"), item.get("viewedAt")
                if key and viewed:
                    plays.setdefault(int(key), []).append(int(viewed))
            start += len(items)
            if not items or start >= int(root.get("totalSize", start)):
                break
        for times in plays.values():
            times.sort()
        return plays

    def section_stamp(self, section: str) -> str | None:
        """The music section's change stamps (contentChangedAt, scannedAt, updatedAt): they
        move when Plex adds, changes or removes something. None when not readable."""
        try:
            response = self._session.get(f"{self.url}/library/sections",
                                         headers={"X-Plex-Token": self._token},
                                         timeout=self._timeout)
            root = ElementTree.fromstring(response.content)  # noqa: S314 - see butler_hours
        except (requests.RequestException, ElementTree.ParseError):
            return None
        for directory in root.iter("Directory"):
            if directory.get("type") == "artist" and (
                    not section or (directory.get("title") or "").casefold()
                    == section.casefold()):
                return "|".join(directory.get(k, "") for k in
                                ("contentChangedAt", "scannedAt", "updatedAt"))
        return None

    def butler_hours(self) -> tuple[int, int] | None:
        """(ButlerStartHour, ButlerEndHour) from the server's preferences, when readable."""
        try:
            response = self._session.get(f"{self.url}/:/prefs",
                                         headers={"X-Plex-Token": self._token},
                                         timeout=self._timeout)
            # the user's own server; plexapi parses the same XML with ElementTree
            root = ElementTree.fromstring(response.content)  # noqa: S314
            values = {s.get("id"): int(s.get("value", "")) for s in root.iter("Setting")
                      if s.get("id") in ("ButlerStartHour", "ButlerEndHour")}
            return values["ButlerStartHour"], values["ButlerEndHour"]
        except (requests.RequestException, ElementTree.ParseError, ValueError, KeyError):
            log.debug("Plex's Butler hours are not readable at %s", self.url)
            return None
