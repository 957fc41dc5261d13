"""What the page's buttons do: decisions into the store (never into Plex), jobs on demand.

Each function validates its input, writes in one transaction through `daemon.store.matches`,
asks for the cached counts to be refreshed, and returns a message for a person plus counts
for scripts. Plays follow at the next maintenance window: the apply job's plan compares the
matches with the ledger, so a changed or removed match is reverted or moved there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dt_time
from typing import Any

from sqlalchemy import Connection, Engine

from daemon.store import matches
from daemon.store.engine import write
from daemon.web import bulk, queries
from daemon.web.dashboard import next_window

SKIP_DAYS = matches.SKIP_DAYS
MANUAL_JOBS = ("pull", "match", "library")


class ActionError(Exception):
    """The request cannot be done as asked; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Outcome:
    message: str
    counts: dict[str, Any] = field(default_factory=dict)


def _track(conn: Connection, track_id: int) -> tuple[str, str, str, str | None]:
    row = conn.exec_driver_sql(
        "SELECT t.artist, t.title, t.album, m.status FROM scrobbled_tracks t LEFT JOIN matches m"
        " ON m.track_id = t.id WHERE t.id = ?", (track_id,)).first()
    if row is None:
        raise ActionError(f"no scrobbled track {track_id}", 404)
    return str(row[0]), str(row[1]), str(row[2]), row[3]


def _name(track: tuple[str, str, str, str | None]) -> str:
    return f"{track[0]} \N{EN DASH} {track[1]}"


class Actions:
    """The decisions and job triggers, bound to the store and the scheduler."""

    def __init__(self, engine: Engine, *, trigger: Callable[[str], bool],
                 changed: Callable[[], None], window: tuple[dt_time, dt_time] | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._trigger = trigger
        self._changed = changed
        self._window = window
        self._now = now

    def accept(self, track_id: int, rating_key: int) -> Outcome:
        """Match the track to library track `rating_key` (a manual decision)."""
        with write(self._engine) as conn:
            track = _track(conn, track_id)
            target = queries.library_tracks(conn, [rating_key]).get(rating_key)
            if target is None:
                raise ActionError(f"no library track {rating_key}", 404)
            matches.decide(conn, track_id, matches.MANUAL, rating_key)
        self._changed()
        return Outcome(f"Matched {_name(track)} to {target['title']} "
                       f"({target['album_artist']}, {target['album']})",
                       {"track_id": track_id, "rating_key": rating_key})

    def not_in_library(self, track_id: int) -> Outcome:
        """Mark the track as not in the library (its plays, if written, are reverted)."""
        with write(self._engine) as conn:
            track = _track(conn, track_id)
            matches.decide(conn, track_id, matches.NOT_IN_LIBRARY, None)
        self._changed()
        return Outcome(f"{_name(track)}: not in your library", {"track_id": track_id})

    def skip(self, track_id: int, days: float = SKIP_DAYS) -> Outcome:
        """Hide a queued track for `days` (no decision is recorded)."""
        if not 0 < days <= 3650:
            raise ActionError("days must be between 0 and 3650")
        with write(self._engine) as conn:
            track = _track(conn, track_id)
            matches.skip(conn, [track_id], int(self._now() + days * 86400))
        self._changed()
        return Outcome(f"Skipped {_name(track)} for {days:g} days", {"track_id": track_id})

    def unskip(self, track_id: int) -> Outcome:
        """Show a skipped track in the queue again."""
        with write(self._engine) as conn:
            track = _track(conn, track_id)
            matches.unskip(conn, [track_id])
        self._changed()
        return Outcome(f"{_name(track)} is back in the queue", {"track_id": track_id})

    def requeue(self, track_id: int) -> Outcome:
        """Remove the track's match: it waits in the queue (its written plays are reverted)."""
        with write(self._engine) as conn:
            track = _track(conn, track_id)
            if track[3] is None:
                raise ActionError("this track has no decision yet", 409)
            matches.requeue(conn, track_id, "match removed by you", origin="user")
        self._changed()
        return Outcome(f"Removed the match of {_name(track)}: it is in the queue",
                       {"track_id": track_id})

    def undo(self, track_id: int) -> Outcome:
        """Forget the decision: the match job decides the track again (and is started)."""
        with write(self._engine) as conn:
            track = _track(conn, track_id)
            old = matches.undo(conn, track_id)
        self._trigger("match")
        self._changed()
        was = f" (was {old[0].replace('_', ' ')})" if old else ""
        return Outcome(f"Forgot the decision for {_name(track)}{was}",
                       {"track_id": track_id, "was": old[0] if old else None})

    def bulk_accept(self, min_score: int, artist: str = "") -> Outcome:
        """Accept the top suggestion of every queued track scoring at least `min_score`."""
        if not 0 <= min_score <= 100:
            raise ActionError("min_score must be between 0 and 100")
        with write(self._engine) as conn:
            found = bulk.plan(conn, min_score, artist)  # never another recording
            done = matches.decide_many(conn, [(t, matches.MANUAL, k) for t, k in found.pairs])
        self._changed()
        left = sum(found.excluded.values())
        return Outcome(f"Accepted the top suggestion of {done:,} tracks (score ≥ {min_score})"
                       + (f"; left {left:,} for you to decide ({found.excluded_text()})"
                          if left else ""),
                       {"accepted": done, "by_reason": found.by_reason,
                        "excluded": found.excluded})

    def bulk_not_in_library(self, artist: str) -> Outcome:
        """Mark every queued track of `artist` (as scrobbled) as not in the library."""
        if not artist:
            raise ActionError("artist is required")
        with write(self._engine) as conn:
            ids = queries.queued_of_artist(conn, artist)
            done = matches.decide_many(conn, [(t, matches.NOT_IN_LIBRARY, None) for t in ids])
        self._changed()
        return Outcome(f"Marked {done:,} tracks of {artist} as not in your library",
                       {"marked": done})

    def run_job(self, name: str) -> Outcome:
        """Start job `name` now (coalesced with a run in progress)."""
        if name not in MANUAL_JOBS:
            raise ActionError(f"no job {name!r} to run from the page", 404)
        if not self._trigger(name):
            raise ActionError(f"the {name} job is not enabled in this service", 409)
        return Outcome(f"Started {name}", {"job": name, "started": True})

    def apply_at_window(self) -> Outcome:
        """Make sure the decisions reach Plex: at once when the window is open, else say when
        the scheduled apply will write them."""
        if self._window is None:
            raise ActionError("scheduled applies are off (apply.window: off, or no Plex "
                              "database): run plexfm apply --now", 409)
        start, end, open_now = next_window(self._window, datetime.fromtimestamp(
            self._now()).astimezone())
        if open_now:
            if not self._trigger("apply"):
                raise ActionError("the apply job is not enabled in this service", 409)
            return Outcome(f"The window is open until {end:%H:%M}: applying now",
                           {"applying": True, "window_end": end.isoformat()})
        return Outcome(f"Your decisions will be written at the next window, "
                       f"{start:%a %d %b %H:%M}",
                       {"applying": False, "window_start": start.isoformat()})
