"""The apply's plan computed from columns (`daemon.store.ledger_bulk.plan_inputs`), joined in
numpy through tables indexed by key or binary search on sorted keys: no probe of the store per
play.

The rules are those of `daemon.apply.plan.diff` (the frame form, which pins them): a play is
*desired* when its scrobble belongs to a mapped user, is dated 0 < uts <= the bound and its
track is matched; with `revert_all`, none is. Plays are compared as (scrobble, account,
track): a ledger row or an "already in Plex" record with no desired play of the same three is
stale; a desired play with neither is a candidate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from daemon.apply.plan import Columns
from daemon.store.columns import Ints
from daemon.store.ledger_bulk import PlanInputs

log = logging.getLogger(__name__)

Mask = npt.NDArray[np.bool_]
Column = npt.NDArray[np.integer[Any]]


@dataclass
class ColumnPlan:
    candidates: Columns
    """scrobble_id, account_id, rating_key, uts of the plays to write, in scrobble id order."""
    duration_ms: npt.NDArray[np.float64]
    """The candidates' track durations (NaN when unknown)."""
    stale: npt.NDArray[np.int64]
    """Scrobble ids of the ledger rows no longer desired, sorted."""
    forget_in_plex: list[int] = field(default_factory=list)
    claimed: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    out_of_range: int = 0
    late: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Scrobble ids dated after the bound (matched or not), sorted."""


def _lookup(keys: Column, wanted: Column) -> tuple[Column, Mask]:
    """For each of `wanted`, its position in the sorted unique `keys` and whether it is
    there. Dense keys (ids from 1 up: scrobbles, tracks) go through a table indexed by key, a
    binary search each cost 0.3 s for 1M plays into 200k tracks."""
    if not len(keys):
        return np.zeros(len(wanted), dtype=np.intp), np.zeros(len(wanted), dtype=bool)
    top = int(keys[-1])
    if int(keys[0]) >= 0 and top <= 2 * (len(keys) + len(wanted)) + 1024:
        table = np.full(top + 2, -1, dtype=np.int32)  # [top + 1]: every key not there
        table[keys] = np.arange(len(keys), dtype=np.int32)
        dense = table[np.clip(wanted, -1, top + 1)]
        there: Mask = dense >= 0
        dense[~there] = 0
        return dense, there
    at = np.searchsorted(keys, wanted)
    at[at == len(keys)] = 0
    found = keys[at] == wanted
    return at, found


def distinct(values: Column) -> list[int]:
    """The distinct values, sorted: dense non-negative ones (ids, rating keys) through a table
    of flags (np.unique sorted 1M plays in 0.06 s)."""
    if not len(values):
        return []
    top = int(values.max())
    if int(values.min()) >= 0 and top <= 4 * len(values) + 1024:
        seen = np.zeros(top + 1, dtype=bool)
        seen[values] = True
        return np.flatnonzero(seen).tolist()
    # with counts: sort-based, not the hash numpy 2 uses for plain values (0.4 s for 1M)
    return cast(list[int], np.unique(values, return_counts=True)[0].tolist())


def _held(rows: Ints, scrobbles: Ints, keep: Mask, done: Mask) -> Mask:
    """Whether each of `rows` (scrobble_id, account_id, rating_key, ...) is the desired play
    of its scrobble (`scrobbles`: scrobble_id, account_id, rating_key; `keep`: desired);
    those plays are marked in `done`."""
    if not len(scrobbles[0]):
        return np.zeros(len(rows[0]), dtype=bool)
    at, found = _lookup(scrobbles[0], rows[0])
    held: Mask = found & keep[at] & (scrobbles[1][at] == rows[1]) & (
        scrobbles[2][at] == rows[2])
    done[at[held]] = True
    return held


def _sorted(columns: Ints) -> Ints:
    """`columns` in the order of the first (the SQL asked for it; kept if the order came
    otherwise)."""
    first = columns[0]
    if len(first) < 2 or bool(np.all(first[1:] > first[:-1])):
        return columns
    order = np.argsort(first, kind="stable")
    return [c[order] for c in columns]


def compute(inputs: PlanInputs, revert_all: bool = False) -> ColumnPlan:
    """The plan (`revert_all`: nothing is desired). The scrobbles' columns are let go as they
    are used (`inputs.scrobbles` is emptied): 1M plays are then joined in ~50 MB."""
    scrobbles, inputs.scrobbles = inputs.scrobbles, []
    sids, tracks, accounts = scrobbles  # in scrobble id order (`by_scrobble_ids`)
    del scrobbles
    late = (tracks & 1).astype(bool)
    late_ids = sids[late].astype(np.int64)
    matched = _sorted(inputs.matched)
    at, found = _lookup(matched[0], tracks >> 1)
    del tracks
    out_of_range = int(np.count_nonzero(found & late))
    keep = found & ~late if not revert_all else np.zeros(len(sids), dtype=bool)
    keys = matched[1][at] if len(matched[0]) else np.zeros(len(sids), dtype=np.int64)
    del at, found, late
    done = ~keep  # the scrobbles with no play to write: not desired, or written, or in Plex
    desired = [sids, accounts, keys]
    ledger = _sorted(inputs.ledger)
    stale = ledger[0][~_held(ledger, desired, keep, done)]
    in_plex = _sorted(inputs.in_plex)
    still = _held(in_plex, desired, keep, done)
    claimed: dict[tuple[int, int], list[int]] = {}
    held = [c[still] for c in in_plex[1:]]
    if len(inputs.settled_in_plex):
        held = [np.concatenate([c, s]) for c, s in zip(held, inputs.settled_in_plex[1:],
                                                        strict=True)]
    for account, key, viewed_at in zip(*(c.tolist() for c in held), strict=True):
        claimed.setdefault((account, key), []).append(viewed_at)
    new = np.flatnonzero(~done)
    candidates = [c[new].astype(np.int64) for c in (sids, accounts, keys)]
    candidates.append(inputs.times(new, sids[new]) if len(new) else np.empty(0, np.int64))
    duration_ms = np.empty(0, dtype=np.float64)
    if len(new):
        durations = _sorted(inputs.durations(candidates[2]))
        where, known = _lookup(durations[0], candidates[2])
        duration_ms = np.where(known, durations[1][where] if len(durations[0]) else 0.0,
                               np.nan)
    return ColumnPlan(candidates=candidates, duration_ms=duration_ms,
                      stale=stale.astype(np.int64),
                      forget_in_plex=in_plex[0][~still].tolist(),
                      claimed={k: sorted(v) for k, v in sorted(claimed.items())},
                      out_of_range=out_of_range, late=late_ids)


def hold_back(plan: ColumnPlan, unremovable: list[int]) -> int:
    """Take out of the plays to write those whose scrobble's ledger row is stale but cannot be
    removed (no history row or no fingerprint): written under the new track, the play would be
    in Plex twice. They stay unremovable (counted and reported) until that old row is removed
    by hand, after which the ledger's check forgets it and the play is written. Return how
    many were held back."""
    if not unremovable or not len(plan.candidates[0]):
        return 0
    keep = ~np.isin(plan.candidates[0], np.asarray(unremovable, dtype=np.int64))
    held = int(np.count_nonzero(~keep))
    if held:
        plan.candidates = [c[keep] for c in plan.candidates]
        plan.duration_ms = plan.duration_ms[keep]
        log.warning("%s plays not written under their new track: the history row written "
                    "for them before cannot be removed (no fingerprint); remove it in Plex "
                    "and they are written at the next apply", held)
    return held
