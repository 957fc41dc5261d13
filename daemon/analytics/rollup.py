"""Keeps the analytics rollups current: new scrobbles folded in, by scrobble id.

Like `store.tracks.fold_new_scrobbles`, only scrobbles stored since the last fold are read
(ids only grow), so after a pull the cost is proportional to what the pull added. The fold
runs in chunks, each its own short transaction that also moves the fold position, so the
first fold of a large history neither holds the write lock for long nor starts over when
interrupted. A change of `analytics.timezone` empties the rollups and folds everything again;
a change of the genre rules re-maps every artist's stored tags.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from daemon.analytics.genres import GenreRules
from daemon.analytics.localtime import local_parts
from daemon.store import rollups, tracks
from daemon.store import tags as tag_store
from daemon.store.engine import write

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    import pandas as pd

log = logging.getLogger(__name__)

FOLD_CHUNK = 250_000


def is_current(conn: Connection, zone: ZoneInfo, rules: GenreRules) -> bool:
    """True when the rollups hold every stored scrobble in `zone` and genres follow `rules`."""
    return (rollups.get_state(conn, rollups.ZONE) == zone.key
            and int(rollups.get_state(conn, rollups.FOLDED_THROUGH) or 0)
            >= rollups.newest_scrobble(conn)
            and rollups.get_state(conn, rollups.GENRE_RULES) == rules.fingerprint())


def backlog(conn: Connection, zone: ZoneInfo) -> int:
    """How many stored scrobbles a refresh would fold (all of them after a zone change)."""
    if rollups.get_state(conn, rollups.ZONE) != zone.key:
        return rollups.newest_scrobble(conn)
    return max(0, rollups.newest_scrobble(conn)
               - int(rollups.get_state(conn, rollups.FOLDED_THROUGH) or 0))


def refresh(engine: Engine, zone: ZoneInfo, rules: GenreRules, *,
            chunk: int = FOLD_CHUNK, max_backlog: int | None = None) -> dict[str, int]:
    """Bring the rollups and artist genres up to date; return counts: folded (dated plays
    added), rebuilt (1 when the time zone changed and everything was folded again),
    genres_remapped (artists with a genre, when the rules changed; else 0), deferred (the
    scrobbles left unfolded because there were more than `max_backlog`; else 0)."""
    counts = {"folded": 0, "rebuilt": 0, "genres_remapped": 0, "deferred": 0}
    with engine.connect() as conn:
        if is_current(conn, zone, rules):
            return counts
        waiting = backlog(conn, zone)
    if max_backlog is not None and waiting > max_backlog:
        counts["deferred"] = waiting
        return counts
    while True:
        with write(engine) as conn:
            if rollups.get_state(conn, rollups.ZONE) != zone.key:
                if rollups.get_state(conn, rollups.ZONE) is not None:
                    log.info("analytics.timezone is now %s: rebuilding the rollups", zone.key)
                    counts["rebuilt"] = 1
                rollups.clear(conn)
                rollups.put_state(conn, rollups.ZONE, zone.key)
            tracks.fold_new_scrobbles(conn)
            rollups.key_new_tracks(conn)
            through = int(rollups.get_state(conn, rollups.FOLDED_THROUGH) or 0)
            newest = rollups.newest_scrobble(conn)
            if through >= newest:
                break
            upto = min(newest, through + chunk)
            plays = rollups.new_plays(conn, through, upto)
            fold(conn, plays, zone, rollups.primary_genres(conn))
            rollups.put_state(conn, rollups.FOLDED_THROUGH, str(upto))
        counts["folded"] += len(plays)
    if counts["folded"]:
        log.info("analytics: %s plays folded into the rollups", counts["folded"])
    with engine.connect() as conn:
        stale_genres = rollups.get_state(conn, rollups.GENRE_RULES) != rules.fingerprint()
    if stale_genres:
        counts["genres_remapped"] = remap_genres(engine, rules)
    return counts


def fold(conn: Connection, plays: pd.DataFrame, zone: ZoneInfo,
         genre_of: dict[int, str]) -> None:
    """Add `plays` (user, uts, track_id, artist_id, album_id; dated) to every rollup, each
    play under its artist's current primary genre (`genre_of`)."""
    if plays.empty:
        return
    parts = local_parts(plays["uts"].to_numpy(), zone)
    frame = plays.assign(day=parts.day, hour=parts.hour, weekday=parts.weekday,
                         month=parts.month, year=parts.month // 100,
                         genre=plays["artist_id"].map(genre_of).astype(object)
                         .fillna(rollups.UNTAGGED),
                         first_month=parts.month)
    with_album = frame[frame["album_id"] >= 0]
    for table, (keys, _extra) in rollups.ROLLUPS.items():
        source = with_album if table.startswith("rollup_album") else frame
        if table == "rollup_artist_total":
            counted = source.groupby(["user", "artist_id"], sort=False).agg(
                first_month=("month", "min"), plays=("month", "size")).reset_index()
        else:
            counted = source.groupby(list(keys), sort=False).size().reset_index(name="plays")
        columns = [counted[c].tolist() for c in (*keys, "plays")]
        rollups.add(conn, table, zip(*columns, strict=True))


def remap_genres(engine: Engine, rules: GenreRules) -> int:
    """Map every artist's stored tags to genres again and recount the plays per genre;
    return how many artists have a genre."""
    with write(engine) as conn:
        stored = list(tag_store.tags_by_artist(conn))
        mapped = tag_store.replace_all_genres(
            conn, ((artist, rules.artist_genres(artist, tags)) for artist, tags in stored))
        rollups.rebuild_genres(conn)
        rollups.put_state(conn, rollups.GENRE_RULES, rules.fingerprint())
    log.info("analytics: genres of %s artists mapped with the current rules", mapped)
    return mapped
