"""The scrobble record every source produces, and its dedupe identity.

A scrobble's identity is (user, uts, artist, title, album, ordinal). The ordinal numbers the
identical copies of one (uts, artist, title, album) within a complete fetch, so a re-fetched
scrobble lands on the same key (stored once) while genuine repeats in the same second, as a
device sync produces them, get ordinals 0, 1, 2... and stay distinct.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import compress, islice
from operator import eq, itemgetter
from typing import Any, NamedTuple

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


def storable_span(now: float) -> tuple[int, float]:
    """`storable` as bounds, for checking many plays at once: for an int `uts`,
    storable(uts, now) is exactly lo <= uts <= hi."""
    return UNDATED, now + MAX_AHEAD_SECONDS


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
_UTS = itemgetter(0)


def with_ordinals(
    scrobbles: Iterable[Scrobble], seen: OrdinalCounter | None = None
) -> list[ScrobbleRow]:
    """Rows ready to store, each carrying its ordinal among identical plays in this batch.

    The batch must hold every play of each second it touches (a whole window), otherwise a
    second split across two batches would number its copies from 0 twice. Pass the same
    `seen` counter to number several batches of one source (an import file) as one.
    """
    if seen is not None:
        return _counted(scrobbles, seen)
    items = scrobbles if isinstance(scrobbles, list) else list(scrobbles)
    # identical plays share their second: only the plays of a second the batch holds more
    # than once can have an ordinal above 0, so only those are counted (a whole window has
    # a handful, and 20,000 key tuples less to build)
    stamps = sorted(map(_UTS, items))
    repeated = set(compress(stamps, map(eq, stamps, islice(stamps, 1, None))))
    rows = [(s[0], s[1], s[2], s[3], 0, s[4], s[5], s[6], s[7]) for s in items]
    if repeated:
        counted: OrdinalCounter = {}
        for index in compress(range(len(items)), map(repeated.__contains__, stamps_of(items))):
            s = items[index]
            key = (s[0], s[1], s[2], s[3])
            ordinal = counted.get(key, 0)
            counted[key] = ordinal + 1
            rows[index] = (s[0], s[1], s[2], s[3], ordinal, s[4], s[5], s[6], s[7])
    return rows


def stamps_of(items: Iterable[tuple[Any, ...]]) -> Iterator[int]:
    """The first field (the time) of every record or row, as a C-level iterator."""
    return map(_UTS, items)


def _counted(scrobbles: Iterable[Scrobble], seen: OrdinalCounter) -> list[ScrobbleRow]:
    rows: list[ScrobbleRow] = []
    append = rows.append
    for s in scrobbles:
        key = (s[0], s[1], s[2], s[3])
        ordinal = seen.get(key, 0)
        seen[key] = ordinal + 1
        append((s[0], s[1], s[2], s[3], ordinal, s[4], s[5], s[6], s[7]))
    return rows
