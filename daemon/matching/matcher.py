"""Exact matching of scrobbled tracks to library tracks: DataFrames in, one decision per row out.

The ladder: the track MBID; else the normalized (artist, title) key against the album artist and
the track artist (or the artist MBID plus the title key); then the scrobble's album; then a
deterministic ranking, only among copies of one recording (`recordings`). Everything else waits
in the queue with a reason from `REASONS`. Fuzzy scores never decide a match: they only rank
suggestions (`suggest.py`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daemon.matching.blocking import closest_titles
from daemon.matching.frames import (
    artist_index,
    credit_index,
    empty_lists,
    given,
    pairs,
    prepare_library,
    prepare_scrobbled,
    put_lists,
    runs,
)
from daemon.matching.recordings import recording_checks

STATUS_AUTO = "auto"
STATUS_QUEUED = "queued"
NO_ARTIST = "no artist in library"
ARTIST_KNOWN = "artist known, title not found"
DIFFERENT_VERSION = "different version"
CLOSE_TITLE = "close title"
AMBIGUOUS = "ambiguous"
SEVERAL_RECORDINGS = "several recordings"  # the library shows the candidates differ (live, ...)
REASONS = (NO_ARTIST, ARTIST_KNOWN, DIFFERENT_VERSION, CLOSE_TITLE, AMBIGUOUS, SEVERAL_RECORDINGS)
# "<how found>[-<what chose among several>]": "-album" when the scrobble's album chose, "-ranked"
# when the deterministic order did (non-compilation, earliest year, lowest rating_key).
RULES = ("mbid", "mbid-album", "mbid-ranked", "exact", "exact-album", "exact-ranked")
MATCH_COLUMNS = ("status", "rating_key", "rule", "reason", "alternatives")
# Titles that name a slot on an album rather than a song: "Intro" on album A is not "Intro" on
# album B, so these match automatically only on the scrobble's own album.
GENERIC_TITLES: frozenset[str] = frozenset({
    "intro", "outro", "interlude", "untitled", "skit", "reprise", "hidden track", "prelude",
    "instrumental", "bonus track", "introduction", "prologue", "epilogue", "overture",
})  # fmt: skip
# A title of the same artist scoring this or more (blocking.title_scores) queues as "close title".
CLOSE_TITLE_SCORE = 85

_TIER_MBID, _TIER_NAME = 0, 1


def _candidates(s: pd.DataFrame, lib: pd.DataFrame, idx: pd.DataFrame) -> pd.DataFrame:
    """Return (sid, lid, tier, conflict): every library track a scrobbled row may be.

    conflict is "track" when both sides carry different track MBIDs, "artist" when the album
    artist's MBID differs from the scrobble's (a namesake), "" otherwise.
    """
    with_mbid = s[s["track_mbid"] != ""]
    mbid = pairs(with_mbid, lib[lib["track_mbid"] != ""], ["track_mbid"])
    on_key = ["artist", "title_key"]
    named = s[(s["artist"] != "") & (s["title_key"] != "")]  # an empty name is no key
    by_name = pairs(named, idx, on_key, carry=("via_album",))
    by_artist_mbid = pairs(
        s[s["artist_mbid"] != ""], lib[lib["artist_mbid"] != ""], ["artist_mbid", "title_key"]
    )
    found = pd.concat(
        [
            mbid.assign(tier=_TIER_MBID, via_album=True),
            by_name.assign(tier=_TIER_NAME),
            by_artist_mbid.assign(tier=_TIER_NAME, via_album=True),
        ],
        ignore_index=True,
    )
    found = found.sort_values(["tier", "via_album"], ascending=[True, False], kind="stable")
    found = found.drop_duplicates(["sid", "lid"]).reset_index(drop=True)
    sid, lid = found["sid"].to_numpy(), found["lid"].to_numpy()
    by_name_tier = found["tier"].to_numpy() == _TIER_NAME

    def differ(column: str) -> np.ndarray:
        a, b = s[column].to_numpy()[sid], lib[column].to_numpy()[lid]
        return np.asarray(by_name_tier & (a != "") & (b != "") & (a != b), dtype=bool)

    namesake = differ("artist_mbid") & found["via_album"].to_numpy()
    namesake &= ~lib["is_compilation"].to_numpy()[lid]
    conflict = np.where(differ("track_mbid"), "track", np.where(namesake, "artist", ""))
    return found.assign(conflict=conflict)


def _ranked(found: pd.DataFrame, s: pd.DataFrame, lib: pd.DataFrame) -> pd.DataFrame:
    """Return `found` with album_rank and library columns, best candidate first per sid.

    album_rank: 0 same album (album MBID, or album name with its edition markers), 1 same album
    once edition markers are removed, 2 another album.
    """
    sid, lid = found["sid"].to_numpy(), found["lid"].to_numpy()
    s_full, s_key = s["album_full"].to_numpy()[sid], s["album_key"].to_numpy()[sid]
    s_mbid = s["album_mbid"].to_numpy()[sid]
    same_mbid = (s_mbid != "") & (s_mbid == lib["album_mbid"].to_numpy()[lid])
    same_full = (s_full != "") & (s_full == lib["album_full"].to_numpy()[lid])
    same_key = (s_key != "") & (s_key == lib["album_key"].to_numpy()[lid])
    ranked = found.assign(
        album_rank=np.where(same_mbid | same_full, 0, np.where(same_key, 1, 2)),
        **{
            c: lib[c].to_numpy()[lid]
            for c in ("is_compilation", "year", "rating_key", "album_artist", "album_full")
        },
    )
    order = ["sid", "tier", "album_rank", "is_compilation", "year", "rating_key"]
    return ranked.sort_values(order, kind="stable").reset_index(drop=True)


def _keys_by_sid(ranked: pd.DataFrame) -> pd.Series:
    """Return sid -> list of rating_keys, in ranked order (`ranked` is sorted by sid)."""
    return runs(ranked["sid"].to_numpy(), ranked["rating_key"].tolist())


def _choose(ranked: pd.DataFrame, s: pd.DataFrame, lib: pd.DataFrame) -> pd.DataFrame:
    """Return one row per sid: rating_key, rule, reason ("" when the choice stands, else why
    it waits in the queue), alternatives (every candidate's rating_key, the chosen one first)."""
    first = ranked.drop_duplicates("sid").set_index("sid")
    second = ranked[ranked.duplicated("sid")].drop_duplicates("sid").set_index("sid")
    second = second.reindex(first.index)
    tier, rank = first["tier"].to_numpy(), first["album_rank"].to_numpy()
    alone = second["tier"].isna().to_numpy() | (second["tier"].to_numpy() > tier)
    suffix = np.where(
        alone, "", np.where(rank < second["album_rank"].to_numpy(), "-album", "-ranked")
    )
    rule = np.where(tier == _TIER_MBID, "mbid", "exact").astype(object) + suffix
    # Two candidates on one album (the same album twice, or two "Untitled"): no album can split.
    same_album = ranked.groupby(["sid", "tier", "album_artist", "album_full"])["lid"].transform(
        "size"
    )
    duplicated = (same_album[~ranked.duplicated("sid")] > 1).to_numpy()
    generic = s["title_base"].to_numpy()[first.index.to_numpy()]
    generic = np.isin(generic, list(GENERIC_TITLES)) & (tier == _TIER_NAME) & (rank == 2)
    checks = recording_checks(ranked, s, lib).reindex(first.index)
    reason = np.where(duplicated | generic, AMBIGUOUS, "").astype(object)
    reason[checks["other"].to_numpy()] = DIFFERENT_VERSION
    reason[checks["several"].to_numpy()] = SEVERAL_RECORDINGS
    several = ranked[ranked["sid"].duplicated(keep=False)]
    keys = _keys_by_sid(several).reindex(first.index)
    return pd.DataFrame(
        {
            "rating_key": first["rating_key"].to_numpy(),
            "rule": rule,
            "reason": reason,
            "alternatives": [
                k if isinstance(k, list) else [rk]
                for k, rk in zip(keys, first["rating_key"].tolist(), strict=True)
            ],
        },
        index=first.index,
    )


def _close_titles(
    s: pd.DataFrame, idx: pd.DataFrame, sids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (sids whose artist or a credited artist is in the library, those of them with a
    title scoring CLOSE_TITLE_SCORE or more against one of that artist's titles)."""
    credits = credit_index(s.loc[sids])
    known = credits[credits["artist"].isin(idx["artist"].unique())]
    best = closest_titles(known, s, idx, keep=1)
    return known["sid"].unique(), best.loc[best["score"] >= CLOSE_TITLE_SCORE, "sid"].unique()


def match_exact(
    scrobbled: pd.DataFrame,
    library: pd.DataFrame | None,
    *,
    prepared: pd.DataFrame | None = None,
    prepared_scrobbled: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return one decision per scrobbled row, with the same index and `MATCH_COLUMNS`.

    status "auto": rating_key (Int64) and rule (from `RULES`) are set; alternatives lists the
    other library tracks with the same key, best first. status "queued": reason (from
    `REASONS`) is set, rating_key is <NA>; alternatives lists the tracks the reason is about
    (the candidates that could not be split, or the same song in another recording).
    Another recording (live, remix, acoustic, demo, ...) is never matched to the studio track.
    `prepared`: `prepare_library(library)` when the caller has it already (it is the same for
    `suggest`, and costs ~1 s for 200,000 tracks); `prepared_scrobbled`: likewise
    `prepare_scrobbled(scrobbled)` (its rows for the queue are `suggest`'s). With them given,
    `library` may be None and only `scrobbled`'s index is read (the job drops the raw frames).
    """
    s = prepare_scrobbled(scrobbled) if prepared_scrobbled is None else prepared_scrobbled
    lib = prepared if prepared is not None else prepare_library(given(library))
    idx = artist_index(lib)
    n = len(s)
    status = np.full(n, STATUS_QUEUED, dtype=object)
    rating_key = np.zeros(n, dtype=np.int64)
    rule, reason = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    alternatives = empty_lists(n)

    candidates = _candidates(s, lib, idx)
    usable = candidates["conflict"] == ""
    chosen = _choose(_ranked(candidates[usable], s, lib), s, lib)
    auto = chosen[chosen["reason"] == ""]
    at = auto.index.to_numpy()
    status[at], rating_key[at], rule[at] = STATUS_AUTO, auto["rating_key"], auto["rule"]
    put_lists(alternatives, at, (keys[1:] for keys in auto["alternatives"]))
    unsure = chosen[chosen["reason"] != ""]
    reason[unsure.index.to_numpy()] = unsure["reason"].to_numpy()
    put_lists(alternatives, unsure.index, unsure["alternatives"])

    # Only conflicting candidates: MusicBrainz says another recording, or a namesake artist.
    conflicted = candidates[~usable & ~candidates["sid"].isin(chosen.index)]
    for kind, why in (("track", DIFFERENT_VERSION), ("artist", AMBIGUOUS)):
        keys = _keys_by_sid(_ranked(conflicted[conflicted["conflict"] == kind], s, lib))
        keys = keys[~keys.index.isin(np.flatnonzero(reason != ""))]
        reason[keys.index.to_numpy()] = why
        put_lists(alternatives, keys.index, keys)

    rest = s[(status == STATUS_QUEUED) & (reason == "") & (s["artist"] != "").to_numpy()]
    with_mbid = rest["artist_mbid"] != ""
    same_song = pd.concat(
        [
            pairs(rest, idx, ["artist", "title_base"]),
            pairs(rest[with_mbid], lib[lib["artist_mbid"] != ""], ["artist_mbid", "title_base"]),
        ]
    ).drop_duplicates()
    keys = _keys_by_sid(_ranked(same_song.assign(tier=_TIER_NAME), s, lib))
    reason[keys.index.to_numpy()] = DIFFERENT_VERSION
    put_lists(alternatives, keys.index, keys)

    rest_sids = np.flatnonzero((status == STATUS_QUEUED) & (reason == ""))
    known, close = _close_titles(s, idx, rest_sids)
    reason[rest_sids] = NO_ARTIST
    reason[known] = ARTIST_KNOWN
    reason[close] = CLOSE_TITLE
    return pd.DataFrame(
        {
            "status": status,
            "rating_key": pd.arrays.IntegerArray(rating_key, mask=status != STATUS_AUTO),
            "rule": rule,
            "reason": reason,
            "alternatives": alternatives,
        },
        index=scrobbled.index,
    )
