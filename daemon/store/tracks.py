"""Scrobbled tracks: one row per raw (artist, title, album), with its play count.

New scrobbles are folded in incrementally (scrobble ids only grow), so keeping the table
current costs a GROUP BY over what arrived since the last fold, not over the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from daemon.store import counters
from daemon.store.engine import SORT_CACHE_KIB, bulk_cache, page_cache, put_back, set_aside

FOLDED_THROUGH = "scrobbles_folded_through"
REBUILD_MIN_ROWS = 100_000
"""A fold of at least this many scrobbles, and at least as many as were folded before, drops
the indexes of scrobble_tracks and builds them again afterwards (in the same transaction):
one sort instead of a random B-tree insert per scrobble (1M: 1.7+0.9 s instead of 4.6 s)."""

_FOLD = """
INSERT INTO scrobbled_tracks
    (artist, title, album, plays, artist_mbid, track_mbid, album_mbid, first_uts, last_uts)
SELECT artist, title, album, count(*), max(artist_mbid), max(track_mbid), max(album_mbid),
       min(uts), max(uts)
FROM scrobbles WHERE id > ? AND id <= ?
GROUP BY artist, title, album
ON CONFLICT (artist, title, album) DO UPDATE SET
    plays = plays + excluded.plays,
    artist_mbid = CASE WHEN artist_mbid = '' THEN excluded.artist_mbid ELSE artist_mbid END,
    track_mbid = CASE WHEN track_mbid = '' THEN excluded.track_mbid ELSE track_mbid END,
    album_mbid = CASE WHEN album_mbid = '' THEN excluded.album_mbid ELSE album_mbid END,
    first_uts = min(first_uts, excluded.first_uts),
    last_uts = max(last_uts, excluded.last_uts)
"""


# each scrobble's track (with its user and time), so apply's 1M-row plan reads this narrow
# table and joins on integers, never the wide scrobbles table on three texts; an id mapped
# before is updated, never REPLACEd (migration 18: its trigger logs the change for the plan)
_MAP = """
INSERT INTO scrobble_tracks (scrobble_id, track_id, user, uts)
SELECT s.id, t.id, s.user, s.uts FROM scrobbles s JOIN scrobbled_tracks t
    ON t.artist = s.artist AND t.title = s.title AND t.album = s.album
WHERE s.id > ? AND s.id <= ?
ON CONFLICT (scrobble_id) DO UPDATE SET
    track_id = excluded.track_id, user = excluded.user, uts = excluded.uts
"""


def unfolded(conn: Connection) -> int:
    """How many scrobble ids the next fold covers (an upper bound on the scrobbles it folds)."""
    newest = conn.exec_driver_sql("SELECT max(id) FROM scrobbles").scalar()
    return max(0, int(newest or 0) - counters.get(conn, FOLDED_THROUGH))


FTS_INSERT_TRIGGER = "scrobbled_fts_insert"  # migrations 4 and 17
SECONDARY_INDEXES = ("ix_scrobbled_tracks_plays", "ix_scrobbled_tracks_album")  # migration 4


@dataclass(frozen=True)
class Fold:
    """Scrobble ids through..newest counted into scrobbled_tracks, not yet mapped.

    A large fold sets aside the search index's insert trigger and the secondary indexes of
    scrobbled_tracks (`deferred`: their DDL); `map_scrobbles` restores them and indexes the
    tracks after `new_after` (the new ids) for search in one statement."""

    through: int
    newest: int
    deferred: tuple[str, ...] = ()
    new_after: int = 0


def fold_new_scrobbles(conn: Connection) -> int:
    """Count scrobbles stored since the last fold into scrobbled_tracks; return how many."""
    with bulk_cache(conn):  # the GROUP BY sorts every new scrobble; big B-trees are touched
        return map_scrobbles(conn, fold_tracks(conn))


def fold_tracks(conn: Connection) -> Fold | None:
    """The first half of `fold_new_scrobbles`: new scrobbles counted into scrobbled_tracks
    (their tracks can be read from here on); `map_scrobbles` must follow in the same
    transaction. None when there is nothing new."""
    through = counters.get(conn, FOLDED_THROUGH)
    newest = conn.exec_driver_sql("SELECT max(id) FROM scrobbles").scalar()
    if newest is None or newest <= through:
        return None
    deferred: tuple[str, ...] = ()
    new_after = 0
    if _large(through, int(newest)):
        new_after = int(conn.exec_driver_sql("SELECT max(id) FROM scrobbled_tracks").scalar()
                        or 0)
        deferred = _set_aside(conn)
    with page_cache(conn, SORT_CACHE_KIB):
        conn.exec_driver_sql(_FOLD, (through, newest))
    return Fold(through, int(newest), deferred, new_after)


def _large(through: int, newest: int) -> bool:
    return newest - through >= max(REBUILD_MIN_ROWS, through)


def _set_aside(conn: Connection) -> tuple[str, ...]:
    """Drop the FTS insert trigger and the secondary indexes of scrobbled_tracks (a large
    fold inserts ~100,000 tracks: per-row search indexing and index inserts cost more than
    one INSERT...SELECT and a sort afterwards); return their DDL."""
    return tuple(set_aside(conn, "scrobbled_tracks", (FTS_INSERT_TRIGGER, *SECONDARY_INDEXES)))


def map_scrobbles(conn: Connection, fold: Fold | None) -> int:
    """The second half: each scrobble of `fold` mapped to its track, the fold recorded as
    done; return how many scrobble ids it covered."""
    if fold is None:
        return 0
    if fold.deferred:
        # as the trigger would have, for the rows the fold added (ids past every indexed one;
        # the index is external-content, migration 17: no REPLACE, it would forget new text)
        conn.exec_driver_sql(
            "INSERT INTO scrobbled_fts (rowid, artist, title, album)"
            " SELECT id, artist, title, album FROM scrobbled_tracks WHERE id > ?",
            (fold.new_after,))
        put_back(conn, fold.deferred)
    rebuild = _large(fold.through, fold.newest)
    indexes = set_aside(conn, "scrobble_tracks") if rebuild else []
    conn.exec_driver_sql(_MAP, (fold.through, fold.newest))
    put_back(conn, indexes)
    counters.put(conn, FOLDED_THROUGH, fold.newest)
    return fold.newest - fold.through
