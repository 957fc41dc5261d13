"""Copies of one recording versus different recordings among a scrobble's exact candidates.

The album-aware tie-break (non-compilation, earliest year, lowest id) may only choose among
copies of one recording. The library itself shows candidates to be different recordings when:
- one is on a live album and another is not, or they are on two different live albums
  (`normalize.is_live_album`; a live album and its deluxe edition are one album);
- their performers differ: the track artist (Plex's original_title, else the album artist) of
  neither credits all the performers of the other ("Queen" and "Queen & David Bowie" are the same
  performers, "Berliner Philharmoniker, Karajan" and "Berliner Philharmoniker, Rattle" are not);
- they carry different non-empty recording (track) MBIDs.
Such candidates match only when the scrobble's album names exactly one of them (or its MBID
does: candidates found by MBID are one recording by definition).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

# A performer credit is stored as its performer_credits keys, sorted and joined by this.
CREDIT_JOIN = "|"
# album_rank below this: the candidate is on the album the scrobble names (matcher._ranked).
_NAMED = 2


def _nested(credits: pd.Series) -> bool:
    """Whether performer credits are nested: each one's performers are all in the next's."""
    sets = sorted((frozenset(c.split(CREDIT_JOIN)) for c in credits.dropna().unique()), key=len)
    return all(a <= b for a, b in pairwise(sets))


def recording_checks(ranked: pd.DataFrame, s: pd.DataFrame, lib: pd.DataFrame) -> pd.DataFrame:
    """Return two bools per sid of `ranked` (candidates best first per sid, each sid's rows
    together, with tier and album_rank):
    - `several`: the candidates the choice is made among are different recordings;
    - `other`: they are one recording, but the scrobble's album says it is another one (a
      studio album named while they are on a live album, or a live album they are not on; a
      live title from an album that is not a live album may be any concert: not flagged).

    The choice is made among the candidates of the best tier, and of those, when any is on the
    album the scrobble names, only those. Candidates found by MBID (tier 0) are never flagged.
    """
    if ranked.empty:
        return pd.DataFrame({"several": [], "other": []}, dtype=bool)
    sid, lid, tier = (ranked[c].to_numpy() for c in ("sid", "lid", "tier"))
    opens = np.r_[True, sid[1:] != sid[:-1]]  # the first row of each sid
    starts, group = np.flatnonzero(opens), np.cumsum(opens) - 1
    best = tier == tier[starts][group]
    on_named = best & (ranked["album_rank"].to_numpy() < _NAMED)
    named = np.logical_or.reduceat(on_named, starts)[group]

    def known(column: str) -> pd.Series:  # "" is unknown: never a difference
        values = pd.Series(lib[column].to_numpy()[lid], dtype=object)
        return values.where(values != "")

    pool = pd.DataFrame(
        {
            "sid": sid,
            "by_name": tier > 0,
            "named": named,
            "live": lib["live_album"].to_numpy()[lid],
            "mbid": known("track_mbid"),
            "performers": known("performers"),
        }
    )[best & (on_named | ~named)]
    first = pool.drop_duplicates("sid").set_index("sid")
    several = pd.Series(False, index=first.index)
    multi = pool[pool["sid"].duplicated(keep=False)]  # most scrobbles have one candidate
    if not multi.empty:
        groups = multi.groupby("sid", sort=False)
        differ = (groups["live"].nunique() > 1) | (groups["mbid"].nunique() > 1)
        credits = groups["performers"].nunique()
        check = credits.index[(credits > 1) & ~differ]
        nested = multi[multi["sid"].isin(check)].groupby("sid")["performers"].agg(_nested)
        differ.loc[nested.index] = ~nested.astype(bool)
        several.loc[differ.index] = differ
    at = first.index.to_numpy()
    s_album, s_live = s["album_full"].to_numpy()[at], s["live_album"].to_numpy()[at]
    # A live title from an album that is not a live album (a compilation): some concert.
    some_concert = s["live_title"].to_numpy()[at] & (s_live == "")
    by_name = first["by_name"].to_numpy(dtype=bool)
    other = (s_album != "") & ~some_concert & ~first["named"].to_numpy(dtype=bool)
    other &= s_live != first["live"].to_numpy()
    return pd.DataFrame(
        {"several": several.to_numpy(dtype=bool) & by_name, "other": other & by_name},
        index=first.index,
    )
