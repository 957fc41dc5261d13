"""Normalized views of the scrobbled and library frames, shared by matching and suggestions.

Each distinct raw string is normalized once (factorize, then normalize the uniques), so the cost
grows with the number of distinct names, not with the number of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from daemon.matching.normalize import (
    LIVE,
    artist_credits,
    is_live_album,
    normalize_album,
    normalize_artist,
    normalize_title,
    performer_credits,
)
from daemon.matching.recordings import CREDIT_JOIN

# Optional on both sides: a missing column reads as "" (unknown).
MBID_COLUMNS = ("artist_mbid", "track_mbid", "album_mbid")
# Sorts after every real year: a track without a year loses the "earliest year" tie-break.
NO_YEAR = 1_000_000
_COMBINED_MAX = 1 << 62  # distinct_rows: combinations numbered in int64 up to this
T = TypeVar("T")


def object_frame(columns: dict[str, np.ndarray], index: pd.Index | None = None) -> pd.DataFrame:
    """Return a DataFrame of `columns`, text kept as numpy object arrays.

    pandas 3 stores text as pyarrow strings by default; the matching code reads its columns
    back as numpy arrays many times, and the round trips cost ~2 s of a 100,000-track match.
    """
    at = pd.RangeIndex(len(next(iter(columns.values())))) if index is None else index
    return pd.DataFrame(
        {
            name: pd.Series(
                values.astype(object) if values.dtype.kind == "U" else values,
                index=at,
                dtype=object if values.dtype.kind in "OU" else None,
                copy=False,
            )
            for name, values in columns.items()
        },
        index=at,
    )


def _text(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Return `column` as an object array of str, "" for missing values or a missing column."""
    if column not in frame:
        return np.full(len(frame), "", dtype=object)
    values = frame[column].to_numpy()
    if values.dtype == object and _all_text(values):  # the store's columns: no pass for NAs
        return values.copy()
    values = frame[column].to_numpy(dtype=object, na_value="")
    if _all_text(values):
        return values
    return np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object)


def _all_text(values: np.ndarray) -> bool:
    return pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty")


class Names:
    """Normalized forms already computed, per rule: one instance shared by `prepare_library`
    and `prepare_scrobbled` in a job normalizes a name once, though scrobbles and library share
    most titles, albums and artists (the bench: 29,101 and 29,450 distinct titles, mostly the
    same). The rules are pure, so a remembered form is the one a new call would return."""

    def __init__(self) -> None:
        self._known: dict[str, dict[str, Any]] = {}

    def rule(self, name: str, fn: Callable[[str], T]) -> Callable[[str], T]:
        """Return `fn` remembering its results under `name`."""
        known: dict[str, T] = self._known.setdefault(name, {})

        def call(value: str) -> T:
            if value not in known:
                known[value] = fn(value)
            return known[value]

        return call


def _rules(names: Names | None) -> Callable[[str, Callable[[str], T]], Callable[[str], T]]:
    return names.rule if names is not None else lambda _name, fn: fn


def _each_distinct(values: np.ndarray, fn: Callable[[str], object]) -> np.ndarray:
    """Return fn(value) for every value, calling fn once per distinct value."""
    codes, uniques = pd.factorize(values)
    out = np.empty(len(uniques), dtype=object)
    out[:] = [fn(u) for u in uniques]
    return out[codes]


def _title_columns(titles: np.ndarray, names: Names | None) -> dict[str, np.ndarray]:
    codes, uniques = pd.factorize(titles)
    normalize = _rules(names)("title", normalize_title)
    normalized = [normalize(t) for t in uniques]
    return {
        "title_key": np.array([n.key for n in normalized], dtype=object)[codes],
        "title_base": np.array([n.base for n in normalized], dtype=object)[codes],
        "title_literal": np.array([n.literal for n in normalized], dtype=object)[codes],
        "live_title": np.array([LIVE in n.markers for n in normalized], dtype=bool)[codes],
    }


def _album_columns(albums: np.ndarray, names: Names | None) -> dict[str, np.ndarray]:
    """album_key, album_full (edition markers kept), live_album (album_key if it is a live
    album, else "")."""
    rule = _rules(names)
    codes, uniques = pd.factorize(albums)
    normalize, live_album = rule("album", normalize_album), rule("live album", is_live_album)
    keys = np.array([normalize(a) for a in uniques], dtype=object)
    live = np.array([live_album(a) for a in uniques], dtype=bool)
    full = rule("album full", lambda a: normalize_album(a, strip_editions=False))
    return {
        "album_key": keys[codes],
        "album_full": _each_distinct(albums, full),
        "live_album": np.where(live, keys, "").astype(object)[codes],
    }


def _performers(credit: str) -> str:
    return CREDIT_JOIN.join(sorted(performer_credits(credit)))


def prepare_scrobbled(scrobbled: pd.DataFrame, names: Names | None = None) -> pd.DataFrame:
    """Return one normalized row per scrobbled row, positionally aligned (index 0..n-1).

    Columns: artist (key), title_key, title_base, title_literal, live_title (the title has a
    live marker), album_key, album_full, live_album, raw_artist and the three mbids.
    `names`: forms normalized already (shared with `prepare_library`).
    """
    artists = _text(scrobbled, "artist")
    return object_frame(
        {
            "artist": _each_distinct(artists, _rules(names)("artist", normalize_artist)),
            **_title_columns(_text(scrobbled, "title"), names),
            **_album_columns(_text(scrobbled, "album"), names),
            "raw_artist": artists,
            **{c: _text(scrobbled, c) for c in MBID_COLUMNS},
        }
    )


def given(library: pd.DataFrame | None) -> pd.DataFrame:
    """Return `library`, which must be given when its prepared rows are not."""
    if library is None:
        raise ValueError("the library frame is needed when its prepared rows are not given")
    return library


def prepare_library(library: pd.DataFrame, names: Names | None = None) -> pd.DataFrame:
    """Return one normalized row per library track, positionally aligned (index 0..n-1).

    Columns: rating_key, album_artist and track_artist (keys; track_artist "" when unset),
    performers (the track artist's, else the album artist's performer_credits, joined by
    CREDIT_JOIN), title_key, title_base, title_literal, live_title, album_key, album_full,
    live_album, is_compilation, year (NO_YEAR when unknown), and the three mbids.
    `names`: as for `prepare_scrobbled`.
    """
    artist = _rules(names)("artist", normalize_artist)
    years = pd.to_numeric(library["album_year"], errors="coerce").fillna(NO_YEAR)
    album_artists, track_artists = _text(library, "album_artist"), _text(library, "track_artist")
    performers = np.where(track_artists != "", track_artists, album_artists)
    return object_frame(
        {
            "rating_key": library["rating_key"].to_numpy(dtype=np.int64),
            "album_artist": _each_distinct(album_artists, artist),
            "track_artist": _each_distinct(track_artists, artist),
            "performers": _each_distinct(performers, _performers),
            **_title_columns(_text(library, "title"), names),
            **_album_columns(_text(library, "album"), names),
            "is_compilation": library["is_compilation"].fillna(False).to_numpy(dtype=bool),
            "year": years.to_numpy(dtype=np.int64),
            **{c: _text(library, c) for c in MBID_COLUMNS},
        }
    )


def artist_index(lib: pd.DataFrame) -> pd.DataFrame:
    """Return (artist, via_album, title_key, title_base) indexed by lid: one row per name a
    library track answers to.

    Every track is listed under its album artist; a track whose track artist differs (Plex's
    original_title, compilations and duets) is listed under that name too.
    """
    columns = ["title_key", "title_base"]
    by_album = lib[columns].assign(artist=lib["album_artist"], via_album=True)
    own = (lib["track_artist"] != "") & (lib["track_artist"] != lib["album_artist"])
    by_track = lib.loc[own, columns].assign(artist=lib.loc[own, "track_artist"], via_album=False)
    return pd.concat([by_album, by_track]).rename_axis("lid")


def pairs(
    left: pd.DataFrame, right: pd.DataFrame, on: list[str], carry: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Return (sid, lid, *carry) for each left row (indexed by sid) and right row (indexed by
    lid) equal on `on`; the `carry` columns come from `right`."""
    # joined on one integer per combination of the `on` values (codes of both sides at once):
    # merging on the text itself hashed it again and rebuilt the key columns as pyarrow
    # strings only to drop them (~0.1 s per match)
    n = len(left)
    both = on if n and len(right) else []  # one side empty: nothing to hash
    codes = (pd.factorize(np.concatenate([left[c].to_numpy(dtype=object),
                                          right[c].to_numpy(dtype=object)]))[0] + 1
             for c in both)  # + 1: a missing value (-1) is a value of its own; one at a time
    key = _mixed_radix(codes, n + len(right))
    lhs = pd.DataFrame({"sid": left.index.to_numpy(), "_key": key[:n]})
    rhs = pd.DataFrame({"lid": right.index.to_numpy(), "_key": key[n:],
                        **{c: right[c].to_numpy() for c in carry}})
    return lhs.merge(rhs, on="_key")[["sid", "lid", *carry]]


@lru_cache(maxsize=1 << 16)
def _credits(raw: str) -> tuple[str, ...]:
    """`artist_credits`, remembered: a job splits the queue's artists twice (the exact pass's
    close-title check, then the suggestions), ~10,000 distinct names each time."""
    return tuple(artist_credits(raw))


def credit_index(prepared: pd.DataFrame) -> pd.DataFrame:
    """Return (sid, artist): each scrobbled row under its full artist key and each credit's key."""
    credits = _each_distinct(prepared["raw_artist"].to_numpy(), _credits)
    sids = np.repeat(prepared.index.to_numpy(), [len(c) for c in credits])
    flat = [k for c in credits for k in c]
    full = pd.DataFrame({"sid": prepared.index, "artist": prepared["artist"]})
    extra = pd.DataFrame({"sid": sids, "artist": pd.Series(flat, dtype=object)})
    return pd.concat([full, extra], ignore_index=True).drop_duplicates()


def empty_lists(n: int) -> np.ndarray:
    """Return an object array of n distinct empty lists (numpy would broadcast a list of lists)."""
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = []
    return out


def codes_at(frame: pd.DataFrame, column: str, at: np.ndarray) -> np.ndarray:
    """Return the factorized codes of `frame[column]` at positions `at`."""
    return np.asarray(pd.factorize(frame[column].to_numpy())[0][at])


def _mixed_radix(codes: Iterable[np.ndarray], size: int) -> np.ndarray:
    """One int64 per row numbering its combination of the non-negative `codes` (mixed radix:
    hashed once by the caller, not once per column), factorized first when the next column
    would overflow it."""
    number, span = np.zeros(size, dtype=np.int64), 1
    for more in codes:
        radix = int(more.max(initial=0)) + 1
        if span * radix > _COMBINED_MAX:
            number = pd.factorize(number)[0]
            span = int(number.max(initial=0)) + 1
        number, span = number * radix + more, span * radix
    return number


def distinct_rows(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (first, inverse) for equally long int arrays `codes`: the first row of each
    distinct combination of codes, and per row the number of its combination (a value computed
    for the rows `first`, indexed by `inverse`, is the value of every row)."""
    inverse = pd.factorize(_mixed_radix(codes, len(codes[0])))[0]
    # factorize numbers combinations in order of first appearance: a row starts a new one
    # where its number exceeds every number before it (no sort, as np.unique needed)
    if not len(inverse):
        return np.zeros(0, dtype=np.int64), inverse
    seen = np.maximum.accumulate(inverse)
    return np.flatnonzero(np.r_[True, inverse[1:] > seen[:-1]]), inverse


def runs(ids: np.ndarray, values: list[object]) -> pd.Series:
    """Return, per run of equal consecutive `ids`, the list of its `values`, indexed by the id.

    The grouping of `groupby(sort=False).agg(list)` for rows whose ids come together, without
    a Python call per group (that took ~2 s per 100,000-track match).
    """
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
    bounds = [*starts.tolist(), len(ids)]
    lists = [values[a:b] for a, b in pairwise(bounds)]
    return pd.Series(lists, index=pd.Index(ids[starts], name="sid"), dtype=object)


def put_lists(target: np.ndarray, at: Iterable[int], values: Iterable[object]) -> None:
    """Store each of `values` whole at the matching position of object array `target`."""
    for i, value in zip(at, values, strict=True):
        target[i] = value
