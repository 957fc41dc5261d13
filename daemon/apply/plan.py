"""What an apply must do, computed purely from frames: no store, no Plex, no clock.

0. `in_time_bound`: a play is written only if 0 < uts <= now + 1 day, the bound every source
   obeys (`daemon.scrobble.uts_in_range`); the others (a millisecond time stored before the
   ingest checked it, a clock far ahead) are skipped and counted, and are not desired: a
   play plexfm once wrote for one is reverted.
1. `diff`: compare the plays that should be in Plex (matched, dated scrobbles of mapped users)
   with the ledger. A ledger row whose scrobble is no longer matched, or matched to another
   track or account, is reverted if its fingerprint is known (else it is unremovable); a
   desired play neither applied nor known to be in Plex already is a candidate. Records of
   "already in Plex" whose match changed are dropped, so they are checked again. (The apply
   job computes the same from columns of the store joined in numpy,
   `daemon.apply.plan_columns`; this frame form serves the crash recovery and pins the rules.)
2. `dedupe`: a candidate within (track duration + slack) of a play Plex recorded natively for
   the same track and account is that play (Plex or Plexamp scrobbled it to last.fm itself),
   not a new one. Each native play absorbs at most one scrobble: scrobbles in time order each
   take the earliest unclaimed native play in their window; native plays claimed by earlier
   applies stay claimed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from daemon.scrobble import uts_in_range

if TYPE_CHECKING:
    import numpy.typing as npt

DEFAULT_DURATION_S = 240  # when Plex has no duration for a track


@dataclass
class Diff:
    candidates: pd.DataFrame  # scrobble_id, account_id, rating_key, uts, duration_ms
    remove: list[tuple[int, int, int]] = field(default_factory=list)
    """Ledger rows to revert: (scrobble_id, view_id, account_id)."""
    unremovable: list[int] = field(default_factory=list)
    """Ledger rows to revert that cannot be: no history row (api mode) or no fingerprint."""
    fingerprints: dict[int, tuple[str, int]] | None = None
    """scrobble_id -> (guid, viewed_at) of the rows to revert, when the plan read them."""
    forget_in_plex: list[int] = field(default_factory=list)
    claimed: dict[tuple[int, int], list[int]] = field(default_factory=dict)


def in_time_bound(desired: pd.DataFrame, now: float) -> tuple[pd.DataFrame, int]:
    """(the desired plays whose uts is within the bound at `now`, how many were not)."""
    keep = [uts_in_range(uts, now) for uts in desired["uts"].tolist()]
    kept = desired[pd.Series(keep, index=desired.index, dtype=bool)]
    return kept, len(desired) - len(kept)


def diff(
    desired: pd.DataFrame,
    accounts: Mapping[str, int],
    ledger: pd.DataFrame,
    in_plex: pd.DataFrame,
) -> Diff:
    """Split desired plays and the ledger into reverts and candidates (see module doc)."""
    want = desired.assign(account_id=desired["user"].map(accounts))
    want = want[want["account_id"].notna()].astype({"account_id": "int64"})
    merged = ledger.merge(want[["scrobble_id", "account_id", "rating_key"]], on="scrobble_id",
                          how="left", suffixes=("", "_want"))
    stale = merged[(merged["rating_key"] != merged["rating_key_want"])
                   | (merged["account_id"] != merged["account_id_want"])]
    removable = stale["view_id"].notna() & stale["fingerprinted"].astype(bool)
    with_view = stale[removable]
    result = Diff(candidates=pd.DataFrame())
    result.remove = list(zip(with_view["scrobble_id"].astype(int).tolist(),
                             with_view["view_id"].astype(int).tolist(),
                             with_view["account_id"].astype(int).tolist(), strict=True))
    result.unremovable = [int(i) for i in stale[~removable]["scrobble_id"]]
    kept = set(ledger["scrobble_id"]) - set(stale["scrobble_id"])

    known = in_plex.merge(want[["scrobble_id", "account_id", "rating_key"]], on="scrobble_id",
                          how="left", suffixes=("", "_want"))
    outdated = known[(known["rating_key"] != known["rating_key_want"])
                     | (known["account_id"] != known["account_id_want"])]
    result.forget_in_plex = [int(i) for i in outdated["scrobble_id"]]
    still = known[~known["scrobble_id"].isin(outdated["scrobble_id"])]
    for group, times in still.groupby(["account_id", "rating_key"])["native_viewed_at"]:
        account, key = cast(tuple[int, int], group)
        result.claimed[(int(account), int(key))] = sorted(int(t) for t in times)

    done = kept | set(still["scrobble_id"])
    result.candidates = want[~want["scrobble_id"].isin(done)][
        ["scrobble_id", "account_id", "rating_key", "uts", "duration_ms"]
    ].sort_values(["account_id", "rating_key", "uts", "scrobble_id"], kind="stable")
    return result


Columns = list["npt.NDArray[np.int64]"]
"""Plays as four integer arrays: scrobble_id, account_id, rating_key, uts (or native time)."""


def rows(plays: Columns) -> Iterator[tuple[int, int, int, int]]:
    """Plays as (scrobble_id, account_id, rating_key, uts) tuples, built as they are read."""
    yield from zip(*(c.tolist() for c in plays), strict=True)


def dedupe(
    candidates: pd.DataFrame,
    natives: Mapping[tuple[int, int], list[int]],
    claimed: Mapping[tuple[int, int], list[int]],
    slack_seconds: int,
) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]]:
    """Return (plays to write, plays already in Plex), each (scrobble_id, account_id,
    rating_key, uts or native time). `natives`: (account, rating_key) -> sorted native times.
    The frame form of `split_natives`."""
    columns = [candidates[c].to_numpy(dtype=np.int64)
               for c in ("scrobble_id", "account_id", "rating_key", "uts")]
    write, already = split_natives(columns, candidates["duration_ms"].to_numpy(
        dtype=np.float64), natives, claimed, slack_seconds)
    return list(rows(write)), already


def split_natives(
    plays: Columns,
    duration_ms: npt.NDArray[np.float64],
    natives: Mapping[tuple[int, int], list[int]],
    claimed: Mapping[tuple[int, int], list[int]],
    slack_seconds: int,
) -> tuple[Columns, list[tuple[int, int, int, int]]]:
    """`dedupe` on columns: (the plays to write, as columns: those of tracks without native
    plays in scrobble id order, then the others in (account, track, time, scrobble) order; the
    plays already in Plex, as (scrobble_id, account_id, rating_key, native time) tuples)."""
    sids, accounts, keys, times = plays
    # most tracks have no native play: those candidates are written as they are, in bulk
    has_native = np.zeros(len(sids), dtype=bool)
    played: dict[int, list[int]] = {}
    for account, key in (k for k, t in natives.items() if t):
        played.setdefault(int(account), []).append(int(key))
    for account, played_keys in played.items():
        has_native |= (accounts == account) & np.isin(keys, played_keys)
    plain = np.flatnonzero(~has_native)
    plain = plain[np.argsort(sids[plain], kind="stable")]
    near = np.flatnonzero(has_native)
    near = near[np.lexsort((sids[near], times[near], keys[near], accounts[near]))]
    keep: list[int] = []
    already: list[tuple[int, int, int, int]] = []
    free: dict[tuple[int, int], list[int]] = {}
    for at, scrobble_id, account, key, uts, ms in zip(
            near.tolist(), sids[near].tolist(), accounts[near].tolist(), keys[near].tolist(),
            times[near].tolist(), duration_ms[near].tolist(), strict=True):
        track = (account, key)
        if track not in free:
            pool = list(natives[track])
            for t in claimed.get(track, ()):  # a native play claimed before is not available
                i = bisect_left(pool, t)
                if i < len(pool) and pool[i] == t:
                    pool.pop(i)
            free[track] = pool
        pool = free[track]
        duration = ms / 1000 if ms and ms == ms else DEFAULT_DURATION_S  # NaN: unknown
        window = duration + slack_seconds
        i = bisect_left(pool, uts - window)
        if i < len(pool) and pool[i] <= uts + window:
            already.append((scrobble_id, account, key, pool.pop(i)))
        else:
            keep.append(at)
    rows = np.concatenate([plain, np.array(keep, dtype=np.intp)])
    return [c[rows] for c in plays], already
