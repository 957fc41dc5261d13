"""The scrobble record every source produces, and its dedupe identity.

A scrobble's identity is (user, uts, artist, title, album, ordinal). The ordinal numbers the
identical copies of one (uts, artist, title, album) within a complete fetch, so a re-fetched
scrobble lands on the same key (stored once) while genuine repeats in the same second, as a
device sync produces them, get ordinals 0, 1, 2... and stay distinct.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

MAX_AHEAD_SECONDS = 86_400
"""A play may be dated at most this far past now (clock skew across time zones); later ones are
bad data (a millisecond timestamp read as seconds, an overflow) and are skipped and counted."""


def uts_in_range(uts: int, now: float) -> bool:
    """The one rule for every dated play of every source (the API, every import format) and
    for Plex writes: 0 < uts <= now + 1 day. Early dates from a player's bad clock are the
    user's history and are kept; undated plays (uts 0) are kept by `storable`."""
    return 0 < uts <= now + MAX_AHEAD_SECONDS


UNDATED = 0
"""The time of a legacy last.fm play that has none: stored and counted as undated, in no
dated view and never written to Plex."""


def storable(uts: int, now: float) -> bool:
    """What the store may hold: a play within `uts_in_range`, or an undated one (uts 0).
    Everything else is bad data, skipped and counted by every source."""
    return uts == UNDATED or uts_in_range(uts, now)


class Scrobble(NamedTuple):
    """One play as last.fm (or an export file) recorded it; strings are kept raw."""

    uts: int
    artist: str
    title: str
    album: str = ""
    artist_mbid: str = ""
    track_mbid: str = ""
    album_mbid: str = ""
    loved: int | None = None


ScrobbleRow = tuple[int, str, str, str, int, str, str, str, int | None]
"""(uts, artist, title, album, ordinal, artist_mbid, track_mbid, album_mbid, loved)."""


OrdinalCounter = dict[tuple[int, str, str, str], int]


def with_ordinals(
    scrobbles: Iterable[Scrobble], seen: OrdinalCounter | None = None
) -> list[ScrobbleRow]:
    """Rows ready to store, each carrying its ordinal among identical plays in this batch.

    The batch must hold every play of each second it touches (a whole window), otherwise a
    second split across two batches would number its copies from 0 twice. Pass the same
    `seen` counter to number several batches of one source (an import file) as one.
    """
    if seen is None:
        seen = {}
    rows: list[ScrobbleRow] = []
    append = rows.append
    for s in scrobbles:
        key = (s[0], s[1], s[2], s[3])
        ordinal = seen.get(key, 0)
        seen[key] = ordinal + 1
        append((s[0], s[1], s[2], s[3], ordinal, s[4], s[5], s[6], s[7]))
    return rows
