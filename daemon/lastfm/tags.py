"""The tags job: last.fm's top tags of every scrobbled artist, mapped to genres.

Politely: one request at a time through the shared LastfmClient, so the pacer spaces these
requests and the pull's alike. Resumably: every answer is committed with the artist's
tag_state row, so a restart asks only about artists without one (most played first), then
retries the failures of the last run, then refreshes up to `refresh_per_run` of the oldest
answers. last.fm's "artist not found" (HTTP 200, error 6) and an empty tag list are answers
too, recorded so they are not asked again every run. Artists without tags can get tags from
track.getTopTags of their most played tracks.

A bad answer about one artist is skipped and counted; the job stops early only when last.fm
itself is failing (`give_up_after` artists in a row could not be asked, each already retried
by the client) or the key is refused. A run stops after `run_seconds` with counts["left"] > 0
and the job table runs it again at once, so no single run is long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from daemon.analytics.genres import GenreRules
from daemon.errors import LastfmError, LastfmFatalError, LastfmTransientError
from daemon.lastfm.client import LastfmClient
from daemon.stopping import StopToken
from daemon.store import rollups
from daemon.store import tags as tag_store
from daemon.store.engine import write

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from daemon.config import Config

log = logging.getLogger(__name__)

ARTIST_NOT_FOUND = 6
LOG_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class TagSettings:
    max_age_seconds: int = 180 * 86400
    refresh_per_run: int = 300
    track_tags: bool = True
    tracks_per_artist: int = 3
    give_up_after: int = 5
    run_seconds: float = 900.0

    @classmethod
    def from_config(cls, config: Config) -> TagSettings:
        """The `tags.*` settings."""
        tags = config.tags
        return cls(max_age_seconds=int(tags.max_age_days * 86400),
                   refresh_per_run=tags.refresh_per_run, track_tags=tags.track_tags,
                   tracks_per_artist=tags.tracks_per_artist)


def parse_top_tags(body: dict[str, Any]) -> list[tuple[str, int]]:
    """(name, weight) pairs of an artist/track.getTopTags body, in last.fm's order. A single
    tag may come as an object and a count as a number or a string; a tag without a usable
    name or count is left out (so is a name no store can hold: an unpaired surrogate).
    Raises ValueError when the body has no toptags at all."""
    toptags = body.get("toptags")
    if not isinstance(toptags, dict):
        raise ValueError("the answer has no toptags")
    items = toptags.get("tag", [])
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ValueError("toptags.tag is neither a list nor an object")
    found: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        name = " ".join(item["name"].split())
        try:
            name.encode("utf-8")
            weight = int(float(item.get("count", 0)))
        except (TypeError, ValueError, OverflowError):  # UnicodeEncodeError is a ValueError
            continue
        if name and name not in found:
            found[name] = max(0, min(weight, 100))
    return list(found.items())


class _Asker:
    """Asks last.fm about one artist; keeps the run's counts."""

    def __init__(self, client: LastfmClient, settings: TagSettings, counts: dict[str, Any],
                 titles: Callable[[str], list[str]]) -> None:
        self._client = client
        self._settings = settings
        self._counts = counts
        self._titles = titles

    def artist(self, artist: str) -> tuple[str, str, list[tuple[str, int]]]:
        """(status, source, tags) of an artist; raises LastfmError when not answered."""
        tags = self._top_tags("artist.getTopTags", {"artist": artist}, f"tags of {artist!r}")
        if tags is None:
            return tag_store.UNKNOWN, "", []
        if tags or not self._settings.track_tags:
            return (tag_store.OK if tags else tag_store.EMPTY), "artist", tags
        return self._from_tracks(artist)

    def _from_tracks(self, artist: str) -> tuple[str, str, list[tuple[str, int]]]:
        """Tags of the artist's most played tracks, averaged over the tracks that answered."""
        total: dict[str, int] = {}
        answered = 0
        for title in self._titles(artist):
            try:
                tags = self._top_tags("track.getTopTags", {"artist": artist, "track": title},
                                      f"tags of {artist!r} - {title!r}")
            except LastfmFatalError:
                raise
            except (LastfmError, ValueError) as exc:
                self._counts["errors"] += 1
                log.debug("skipped track tags of %r - %r: %s", artist, title, exc)
                continue
            if tags is None:
                continue
            answered += 1
            for name, weight in tags:
                total[name] = total.get(name, 0) + weight
        if not total:
            return tag_store.EMPTY, "artist", []
        self._counts["track_tagged"] += 1
        ranked = sorted(total.items(), key=lambda item: (-item[1], item[0]))
        return tag_store.OK, "track", [(name, round(w / answered)) for name, w in ranked]

    def _top_tags(self, method: str, params: dict[str, str], what: str
                  ) -> list[tuple[str, int]] | None:
        """The tags, None when last.fm does not know the artist or track."""
        try:
            body = self._client.call(method, {**params, "autocorrect": "1"}, what=what)
        except (LastfmFatalError, LastfmTransientError):
            raise
        except LastfmError as exc:
            if exc.code == ARTIST_NOT_FOUND:
                return None
            raise
        return parse_top_tags(body)


def refresh_tags(
    client: LastfmClient,
    engine: Engine,
    settings: TagSettings,
    rules: GenreRules,
    *,
    stop: StopToken | None = None,
    now: Callable[[], float] = time.time,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Ask last.fm about every artist that is due; return counts: requests, retries, asked,
    tagged, track_tagged, empty, unknown, errors, left (due artists not reached)."""
    requests_before, retries_before = client.requests_sent, client.retries
    with engine.connect() as conn:
        due = tag_store.due_artists(conn, int(now()) - settings.max_age_seconds,
                                    settings.refresh_per_run)
    counts: dict[str, Any] = {"asked": 0, "tagged": 0, "track_tagged": 0, "empty": 0,
                              "unknown": 0, "errors": 0, "left": 0}

    def titles(artist: str) -> list[str]:
        with engine.connect() as conn:
            return tag_store.top_titles(conn, artist, settings.tracks_per_artist)

    asker = _Asker(client, settings, counts, titles)
    started = last_log = clock()
    failing = 0
    for index, (artist, _why) in enumerate(due):
        if stop is not None:
            stop.check()
        if clock() - started > settings.run_seconds:
            counts["left"] = len(due) - index
            break
        counts["asked"] += 1
        try:
            status, source, tags = asker.artist(artist)
        except LastfmFatalError:
            raise
        except (LastfmError, ValueError) as exc:
            counts["errors"] += 1
            failing = failing + 1 if isinstance(exc, LastfmTransientError) else 0
            log.debug("no tags for %r this run: %s", artist, exc)
            with write(engine) as conn:
                tag_store.save_failure(conn, artist, str(exc), int(now()))
            if failing >= settings.give_up_after:
                raise LastfmTransientError(
                    f"last.fm failed for {failing} artists in a row ({exc}); "
                    f"{len(due) - index - 1} artists left for the next run") from exc
            continue
        failing = 0
        counts["tagged" if status == tag_store.OK else status] += 1
        genres = rules.artist_genres(artist, tags)
        with write(engine) as conn:
            old = tag_store.primary_genre(conn, artist)
            tag_store.save_answer(conn, artist, status, source, tags, genres, int(now()))
            rollups.move_genre(conn, artist, old, genres[0][0] if genres else None)
        if clock() - last_log >= LOG_EVERY_SECONDS:
            last_log = clock()
            log.info("tags: %s of %s artists asked, %s tagged", index + 1, len(due),
                     counts["tagged"])
    counts["requests"] = client.requests_sent - requests_before
    counts["retries"] = client.retries - retries_before
    if counts["asked"]:
        log.info("tags: asked about %s artists: %s tagged (%s from tracks), %s without tags, "
                 "%s unknown to last.fm, %s errors", counts["asked"], counts["tagged"],
                 counts["track_tagged"], counts["empty"], counts["unknown"], counts["errors"])
    return counts


def run(client: LastfmClient, engine: Engine, settings: TagSettings, rules: GenreRules,
        zone: ZoneInfo, *, stop: StopToken | None = None) -> dict[str, Any]:
    """The scheduled job: bring the analytics rollups up to date (new scrobbles, and the
    scrobbled artists the tags are asked for), then ask about the artists that are due;
    return the counts of both."""
    from daemon.analytics.rollup import refresh

    folded = refresh(engine, zone, rules)
    return {**refresh_tags(client, engine, settings, rules, stop=stop), **folded}
