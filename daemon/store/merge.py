"""The same play from two sources, stored once.

Spotify scrobbles to last.fm, and many players scrobble to last.fm and ListenBrainz at once:
the same play then reaches the store twice, with times a few seconds apart and spellings that
differ in case, accents, punctuation or a "feat." credit. A play from one source that matches
a stored play from *another* source (same `merge_key`, start times within MERGE_TOLERANCE of
each other, or of the minute for a source that only knows the minute) is not stored again:
it is recorded in `merged_plays` as that stored play. Each stored play absorbs at most one
play of each other source, nearest first, so a song played twice in a row stays two plays.
Importing or pulling the same play again finds it (by its identity, in `scrobbles` or in
`merged_plays`): nothing is ever doubled, and re-runs report it as already stored.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress, islice
from operator import sub

from sqlalchemy import Connection

from daemon.scrobble import ScrobbleRow, stamps_of
from daemon.store.scrobbles import insert_rows

MERGE_TOLERANCE = 180
"""Seconds two sources' start times of one play may differ: Spotify's start is computed from
its end time and ms_played, players' clocks drift, a scrobbler may stamp the start or the
moment it submits. Shorter than most songs, and the nearest match wins, so repeats survive."""
_FETCH_GAP = 86_400  # probe intervals closer than this are fetched with one query

_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WORD = re.compile(r"[^\W_]+")
_FEAT_GROUP = re.compile(r"[(\[]\s*(?:feat|ft|featuring|with)\b[^)\]]*[)\]]", re.I)
_FEAT_TAIL = re.compile(r"\s(?:feat\.?|ft\.|featuring)\s.*$", re.I)
_SELECT = (
    "SELECT id, uts, artist, title, album, ordinal, source FROM scrobbles"
    " WHERE user = ? AND uts BETWEEN ? AND ?"
)
_SELECT_MERGED = (
    "SELECT uts, artist, title, album, ordinal, scrobble_id FROM merged_plays"
    " WHERE user = ? AND source = ? AND uts BETWEEN ? AND ?"
)
_ANY_NEAR = (
    "SELECT EXISTS (SELECT 1 FROM scrobbles WHERE user = ? AND uts BETWEEN ? AND ?)"
    " OR EXISTS (SELECT 1 FROM merged_plays WHERE user = ? AND source = ? AND uts BETWEEN ? AND ?)"
)
_INSERT_MERGED = (
    "INSERT INTO merged_plays (user, source, uts, artist, title, album, ordinal, scrobble_id,"
    " merged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)

Identity = tuple[int, str, str, str, int]
"""(uts, artist, title, album, ordinal): a play's identity within one user."""


def _words(text: str) -> list[str]:
    text = _FEAT_TAIL.sub("", _FEAT_GROUP.sub(" ", text))
    folded = _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))
    return [word for word in _WORD.findall(folded.replace("'", "")) if word != "and"]


@lru_cache(maxsize=1 << 18)
def merge_key(artist: str, title: str) -> tuple[str, str]:
    """The key two sources' spellings of one track share: case, accents, punctuation, "&" /
    "and", a leading "The" and featured-artist credits do not count."""
    names = _words(artist)
    if len(names) > 1 and names[0] == "the":
        names = names[1:]
    return " ".join(names), " ".join(_words(title))


@dataclass
class Stored:
    """What storing a batch did: new rows, rows merged into another source's, rows already
    stored (an earlier run of this source stored or merged them)."""

    added: int = 0
    merged: int = 0
    already: int = 0


def _intervals(rows: Sequence[ScrobbleRow], low: int, high: int) -> Iterator[tuple[int, int]]:
    """Covering [start, end] ranges of [uts - low, uts + high] for every row, coalesced when
    closer than _FETCH_GAP (C-level passes over the times: a window holds 20,000 rows)."""
    stamps = sorted(stamps_of(rows))
    # a range ends where the next time starts more than _FETCH_GAP after the range's end
    apart = (low + high + _FETCH_GAP).__lt__
    starts = [0, *compress(range(1, len(stamps)),
                           map(apart, map(sub, islice(stamps, 1, None), stamps)))]
    for first, following in zip(starts, [*starts[1:], len(stamps)], strict=True):
        yield stamps[first] - low, stamps[following - 1] + high


def store_plays(
    conn: Connection,
    user: str,
    rows: Sequence[ScrobbleRow],
    source: str,
    *,
    precision: int = 1,
    tolerance: int = MERGE_TOLERANCE,
    clock: Callable[[], float] = time.time,
) -> Stored:
    """Store a batch of one source's rows, merging those another source already stored
    (`clock` is the wall clock of the store's time rule)."""
    result = Stored()
    if not rows:
        return result
    span = precision - 1 + tolerance
    known: dict[Identity, int] = {}  # a stored or merged identity -> the stored play it is
    candidates: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    # the transaction's own connection, without SQLAlchemy's cost per statement (a scattered
    # batch makes many small queries)
    cursor = conn.connection.cursor()
    first, last = min(stamps_of(rows)), max(stamps_of(rows))
    if not cursor.execute(_ANY_NEAR, (user, first - tolerance, last + span, user, source,
                                      first - 2 * tolerance, last + span + tolerance)
                          ).fetchone()[0]:
        # nothing stored or merged anywhere near the batch (a backfill): the ranges of the
        # plays below would find nothing either; two index probes instead of one per range
        cursor.close()
        result.added = insert_rows(conn, user, rows, source, clock=clock)
        result.already = len(rows) - result.added
        return result
    for start, end in _intervals(rows, tolerance, span):
        for sid, uts, artist, title, album, ordinal, their in cursor.execute(
            _SELECT, (user, start, end)
        ):
            known[(uts, artist, title, album, ordinal)] = sid
            if their != source:
                candidates[merge_key(artist, title)].append((sid, uts))
    claimed: set[int] = set()
    for start, end in _intervals(rows, 2 * tolerance, span + tolerance):
        for uts, artist, title, album, ordinal, sid in cursor.execute(
            _SELECT_MERGED, (user, source, start, end)
        ):
            known[(uts, artist, title, album, ordinal)] = sid
            claimed.add(sid)
    if not known and not candidates:  # nothing stored or merged near these plays (a backfill)
        cursor.close()
        result.added = insert_rows(conn, user, rows, source, clock=clock)
        result.already = len(rows) - result.added
        return result
    pairs = []
    pending = []
    for index, row in enumerate(rows):
        same = known.get(row[:5])
        if same is not None:  # stored (by any source) or merged before: this very play
            result.already += 1
            claimed.add(same)
            continue
        pending.append(index)
        if not candidates:
            continue
        uts = row[0]
        for sid, theirs in candidates.get(merge_key(row[1], row[2]), ()):
            if sid in claimed:
                continue
            gap = max(uts - theirs, theirs - (uts + precision - 1), 0)
            if gap <= tolerance:
                pairs.append((gap, abs(theirs - uts), index, sid))
    merged: dict[int, int] = {}
    for _gap, _dist, index, sid in sorted(pairs):
        if index not in merged and sid not in claimed:
            merged[index] = sid
            claimed.add(sid)
    if merged:
        now = int(clock())
        cursor.executemany(_INSERT_MERGED, [
            (user, source, *rows[index][:5], sid, now) for index, sid in merged.items()
        ])
    cursor.close()
    fresh = [rows[index] for index in pending if index not in merged]
    result.merged = len(merged)
    result.added = insert_rows(conn, user, fresh, source, clock=clock)
    result.already += len(fresh) - result.added
    return result
