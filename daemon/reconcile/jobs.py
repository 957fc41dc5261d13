"""Library refresh and matching jobs: Plex library -> mirror, scrobbled tracks -> decisions.

Each run reads from the store, hands DataFrames to the pure `daemon.matching` functions, and
writes the decisions back in two short transactions: the automatic matches while the queue's
suggestions are computed, then the queued tracks and the rules version (a run stopped between
them leaves the rest undecided, and the rules unrecorded, for the next). What gets (re)matched:
- tracks with no decision yet (new scrobbles since the last run);
- after a library change, the tracks it can affect: those matched to a changed or removed
  library track, and every undecided-by-the-user track whose artist (normalized) is among the
  artists of added or changed library tracks (so "not in library" items are re-checked);
- everything not decided by the user when the matching rules changed, or on `full`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from daemon.collector import cycle_collection_paused
from daemon.logs import plural
from daemon.matching import RULES_VERSION, match_exact, normalize_artist, suggest
from daemon.matching.frames import Names, prepare_library, prepare_scrobbled
from daemon.plex.library import AttachableLibrary, LibrarySource
from daemon.plex.library_attach import AttachedListing
from daemon.reconcile.deferred import helper_for
from daemon.reconcile.frames import library_frame, scrobbled
from daemon.store import counters, matches, tracks
from daemon.store import library as library_store
from daemon.store.engine import bulk_cache, write
from daemon.store.library import LibraryDiff

log = logging.getLogger(__name__)

RULES_COUNTER = "matching_rules_version"
LEFT_LIBRARY = "matched track left the library"
# A fold this large (scrobble ids) takes seconds of SQLite time: the library is read and
# prepared in a thread meanwhile (for a small fold it would only be work done early, or for
# nothing when no track needs a decision).
OVERLAP_MIN_SCROBBLES = 50_000


def refresh_library(
    source: LibrarySource,
    engine: Engine,
    *,
    now: Callable[[], float] = time.time,
    rematch: Callable[[LibraryDiff], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Mirror the Plex library, then re-match what the change can affect; return counts.

    `rematch` runs the matching for a diff (default: `match` in this process; the service
    passes one that runs in a worker process)."""
    started = int(now())
    section = source.section_id()
    with engine.connect() as conn:
        try:
            staged = _stage_listing(conn, source, section, started)
            conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                diff = library_store.apply_staged(conn, section, started)
        finally:
            library_store.discard_staged(conn)
    log.info("library: %s, %s added, %s changed, %s removed", plural(staged, "track"),
             f"{len(diff.added):,}", f"{len(diff.changed):,}", f"{len(diff.removed):,}")
    counts: dict[str, Any] = {"library_tracks": staged, **diff.counts()}
    if not diff.empty:
        counts["match"] = (rematch or (lambda d: match(engine, library_diff=d)))(diff)
    return counts


def _stage_listing(conn: Connection, source: LibrarySource, section: int, started: int) -> int:
    """Stage the source's listing on ``conn``: Plex's file attached and copied in SQL when the
    source can (no Python object per track), else its `LibraryTrack` records."""
    raw = conn.connection.driver_connection
    if isinstance(source, AttachableLibrary) and isinstance(raw, sqlite3.Connection):
        def stage(listing: AttachedListing) -> int:
            with conn.begin():
                return library_store.stage_select(conn, section, *listing, started)

        return source.attached_tracks(raw, stage)
    with conn.begin():
        return library_store.stage_tracks(conn, section, source.tracks(), started)


def match(
    engine: Engine,
    *,
    full: bool = False,
    library_diff: LibraryDiff | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Fold new scrobbles into tracks and decide every track that needs it; return counts.

    `timings`, when given, receives the seconds each phase took.
    """
    with cycle_collection_paused():  # ~0.6 s of full passes over the frames' heap otherwise
        return _match(engine, full, library_diff, timings)


def _match(engine: Engine, full: bool, library_diff: LibraryDiff | None,
           timings: dict[str, float] | None) -> dict[str, Any]:
    clock = _Phases(timings)
    with engine.connect() as conn:
        overlap = tracks.unfolded(conn) >= OVERLAP_MIN_SCROBBLES
    names = Names()  # the library's normalized names, reused for the scrobbled rows
    with helper_for(engine) as pool:
        # SQLite lets go of the GIL while it folds: the library is read and normalized then,
        # and the matching runs while the folded scrobbles are mapped to their tracks
        library = pool.submit(_library, engine, names) if overlap else None
        with write(engine) as conn, bulk_cache(conn):
            fold = tracks.fold_tracks(conn)
            rules_changed = counters.get(conn, RULES_COUNTER) != RULES_VERSION
            clock.lap("fold scrobbles into tracks" + (" (library read beside it)" if library
                                                      else ""))
            targets = _targets(conn, full or rules_changed, library_diff)
            clock.lap("read tracks")
            exact = None if targets.empty else pool.submit(
                _exact, engine, library, [(targets, names)], timings)
            suggested = None if exact is None else pool.submit(_suggested, exact, timings)
            del targets, names
            folded = tracks.map_scrobbles(conn, fold)
        clock.lap("map scrobbles to tracks" + (" (matching beside it)" if exact else ""))
        if exact is None or suggested is None:
            return {"folded_scrobbles": folded, "matched": 0}
        # the automatic matches are written while the queue's suggestions are computed: SQL
        # over staged JSON texts, which leaves Python's lock to the helper meanwhile
        origin = "rules" if rules_changed else "auto"
        automatic = exact.result().automatic
        clock.lap("rest of the exact pass")
        with write(engine) as conn:
            saved = matches.save_staged(conn, automatic, origin)
        clock.lap("save automatic matches")
        queued = suggested.result()
        clock.lap("rest of the suggestions")
    with write(engine) as conn:
        for name, count in matches.save_staged(conn, queued, origin).items():
            saved[name] += count
        if library_diff is not None and library_diff.removed:
            saved["requeued_user_decisions"] = _requeue_removed(conn, library_diff.removed)
        counters.put(conn, RULES_COUNTER, RULES_VERSION)
    clock.lap("save queued tracks")
    log.info("matched %s: %s automatically, %s queued",
             plural(automatic.size + queued.size, "track"), f"{automatic.size:,}",
             f"{queued.size:,}")
    return {"folded_scrobbles": folded, "matched": automatic.size + queued.size,
            "auto": automatic.size, "queued": queued.size, **saved}


def _library(engine: Engine, names: Names) -> pd.DataFrame:
    """The library's normalized rows (`prepare_library`), both passes use them."""
    with engine.connect() as conn, conn.begin():
        return prepare_library(library_frame(conn), names)


def _targets(conn: Connection, everything: bool, diff: LibraryDiff | None) -> pd.DataFrame:
    frame = scrobbled(conn)
    user = frame["status"].isin(matches.USER_STATUSES)
    wanted = frame["status"].isna()
    if everything:
        wanted |= ~user | (frame["status"] == matches.NOT_IN_LIBRARY)
    if diff is not None and not diff.empty:
        touched = set(diff.changed) | set(diff.removed)
        wanted |= frame["current_key"].isin(touched) & (frame["status"] != matches.MANUAL)
        artists = _library_artists(conn, diff.added + diff.changed)
        by_artist = frame["artist"].map(_cached(normalize_artist)).isin(artists)
        wanted |= by_artist & (frame["status"] != matches.MANUAL)
    return frame[wanted]


def _cached(fn: Callable[[str], str]) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def call(value: str) -> str:
        if value not in cache:
            cache[value] = fn(value)
        return cache[value]

    return call


def _library_artists(conn: Connection, keys: list[int]) -> set[str]:
    names: set[str] = set()
    normalize = _cached(normalize_artist)
    for row in library_store.tracks_by_key(conn, keys).values():
        names.add(normalize(row["album_artist"]))
        if row["track_artist"]:
            names.add(normalize(row["track_artist"]))
    names.discard("")
    return names


class _Phases:
    def __init__(self, into: dict[str, float] | None) -> None:
        self._into = into
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self._into is not None:
            self._into[name] = now - self._last
        self._last = now


@dataclass(frozen=True)
class _Exact:
    """The exact pass's outcome: its automatic matches staged for saving, and what the
    suggestions need (the queued decisions, the prepared library, the queue's prepared rows)."""

    automatic: matches.StagedDecisions
    queued: pd.DataFrame
    library: pd.DataFrame
    rows: pd.DataFrame


def _exact(engine: Engine, library: Future[pd.DataFrame] | None,
           given: list[tuple[pd.DataFrame, Names]], timings: dict[str, float] | None) -> _Exact:
    """The exact pass over the targets in `given` (taken out of it, with the names normalized
    so far) against the library prepared by `library` (read now when None). The raw frames
    and the names are not kept past the normalization (~100 MB of strings at the peak)."""
    targets, names = given.pop()
    prepared = library.result() if library is not None else _library(engine, names)
    clock = _Phases(timings)
    rows, index = prepare_scrobbled(targets, names), targets.index
    del targets, names
    decided = match_exact(pd.DataFrame(index=index), None, prepared=prepared,
                          prepared_scrobbled=rows)
    clock.lap("exact pass")
    queued = (decided["status"] == "queued").to_numpy()
    automatic = _staged(decided[~queued])
    clock.lap("automatic matches staged")
    return _Exact(automatic, decided[queued], prepared, rows[queued].reset_index(drop=True))


def _suggested(exact: Future[_Exact], timings: dict[str, float] | None,
               ) -> matches.StagedDecisions:
    """The queued decisions of `exact`, each with its suggestions, staged for saving."""
    done = exact.result()
    clock = _Phases(timings)
    suggestions = (
        suggest(pd.DataFrame(index=done.queued.index), None, prepared=done.library,
                prepared_queued=done.rows)["suggestions"]
        if len(done.queued) else pd.Series(dtype=object))
    clock.lap(f"suggestions for {len(done.queued):,} queued")
    staged = _staged(done.queued, suggestions.to_dict())
    clock.lap("queued tracks staged")
    return staged


def _staged(decided: pd.DataFrame, suggestions: dict[Any, Any] | None = None,
            ) -> matches.StagedDecisions:
    """The decisions of `decided` (match_exact's rows) staged for saving, from its columns as
    plain lists (a pandas scalar, or a `Decision`, per track cost ~1 s per 100,000)."""
    missing = decided["rating_key"].isna().to_numpy()
    keys = decided["rating_key"].fillna(0).astype("int64").to_numpy().astype(object)
    keys[missing] = None
    track_ids = decided.index.tolist()
    found = suggestions or {}
    return matches.stage_columns(
        track_ids, decided["status"].tolist(), keys.tolist(),
        *([v or None for v in decided[c].tolist()] for c in ("rule", "reason")),
        decided["alternatives"].tolist(),
        [found.get(t, ()) for t in track_ids] if found else repeat((), len(track_ids)))


def _requeue_removed(conn: Connection, removed: list[int]) -> int:
    """A manual match to a track that left the library goes back to the queue."""
    gone = set(removed)
    rows = conn.exec_driver_sql(
        "SELECT track_id, rating_key FROM matches WHERE status = ?", (matches.MANUAL,)
    ).all()
    requeued = [int(track_id) for track_id, key in rows if key in gone]
    for track_id in requeued:
        matches.requeue(conn, track_id, LEFT_LIBRARY)
    return len(requeued)
