"""The incremental apply plan: read only the scrobbles that can have changed since the last
apply that finished, not the whole history.

A plan is made scrobble by scrobble: whether a scrobble's play is to write, to remove or
settled depends on its own row of scrobble_tracks (track, user, time), its track's match, the
user's account and the time bound, and on its own ledger and "already in Plex" rows. After an
apply that finished, every scrobble is settled but those it left (`unresolved`: the rows it
found stale and the scrobbles dated after the bound; an apply that left a play unwritten saves
no basis). The basis saved then (`save`, table plan_basis) lets the next plan read only

- the scrobbles above the highest id that plan read (new ones);
- those the change log names (plan_changes, by trigger: their row was updated or deleted);
- those of tracks whose match is not the one in the basis;
- the unresolved ones;

with their ledger and "already in Plex" rows (the other "already in Plex" rows are read too,
as settled: they claim their native plays). The basis is used only when the mapped accounts
are the same, the bound did not go back, and the ledger and the "already in Plex" records
still sum to what they summed to after that apply, whatever changed them since (the ledger's
reconciliation with Plex, a restore, an apply that failed half way, a hand edit); otherwise,
or when the scope is a large part of the history, the whole history is read, as before.
`tests/test_plan_scope.py` checks the scoped plan against the whole one after random changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from daemon.store.columns import Ints, integer_columns
from daemon.store.engine import bulk_cache, driver_cursor, per_thread_database
from daemon.store.ledger import json_ints
from daemon.store.ledger_bulk import (
    IN_PLEX,
    LEDGER_ROWS,
    STALE_NAMES,
    PlanInputs,
    Stale,
    durations,
    matched_tracks,
    scrobble_rows,
    stale_of,
    stale_rows,
    times_of,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# every row's (scrobble, account, track) in one number, summed: any row added, removed or
# moved to another track or account changes the sum or the count (the ledger of 1M plays is
# summed by one scan in ~0.1 s)
_TERM = "(scrobble_id * 40503 + rating_key * 65599 + account_id * 131{}) % 1000000007"
LEDGER_SUM = f"SELECT count(*) || ':' || coalesce(sum({_TERM.format('')}), 0) FROM applied_plays"
IN_PLEX_SUM = (f"SELECT count(*) || ':' || coalesce(sum({_TERM.format(' + native_viewed_at')}),"
               " 0) FROM plays_in_plex")
SCOPE_SHARE = 0.25
"""A scope of more than this share of the history is read as the whole history (a scan costs
less than that many lookups)."""


@dataclass(frozen=True)
class Reading:
    """What a plan read, to be saved as the next plan's basis once its apply finished."""

    accounts: str
    bound: float
    watermark: int
    change_seq: int
    matched: Ints
    scoped: int | None = None
    """How many scrobbles the plan read through the scope (None: the whole history)."""


def accounts_key(accounts: Mapping[str, int]) -> str:
    return json.dumps(sorted((str(u), int(a)) for u, a in accounts.items()))


def inputs(engine: Engine, conn: Connection, accounts: Mapping[str, int], bound: float
           ) -> tuple[PlanInputs | None, Reading]:
    """The plan's inputs over the scope of the basis, and what was read; None when the whole
    history must be read (no basis, or it does not hold, or the scope is too large). `conn`
    holds the plan's read transaction."""
    watermark, change_seq = driver_cursor(conn, (
        "SELECT coalesce((SELECT max(scrobble_id) FROM main.scrobble_tracks), 0),"
        " coalesce((SELECT max(seq) FROM main.plan_changes), 0)"), ()).fetchone()
    reading = Reading(accounts_key(accounts), float(bound), int(watermark), int(change_seq),
                      matched_tracks(conn))
    basis = driver_cursor(conn, (
        "SELECT accounts, bound, watermark, change_seq, matched, unresolved, ledger_sum,"
        " in_plex_sum FROM main.plan_basis WHERE id = 1"), ()).fetchone()
    if basis is None or basis[0] != reading.accounts or float(basis[1]) > bound:
        return None, reading
    if per_thread_database(engine):
        scoped = _scoped(conn, accounts, bound, reading, basis)
        holds = _sums(conn) == (basis[6], basis[7])
    else:
        with ThreadPoolExecutor(max_workers=1) as helper:
            summed = helper.submit(_sums_apart, engine)
            scoped = _scoped(conn, accounts, bound, reading, basis)
            holds = summed.result() == (basis[6], basis[7])
    if not holds or scoped is None:
        return None, reading
    return scoped, replace(reading, scoped=len(scoped.scrobbles[0]))


def _sums_apart(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn, bulk_cache(conn):
        return _sums(conn)


def _sums(conn: Connection) -> tuple[str, str]:
    return ledger_sum(conn), _in_plex_sum(conn)


def ledger_sum(conn: Connection) -> str:
    """What the ledger sums to (count and sum of its rows' terms)."""
    return str(driver_cursor(conn, LEDGER_SUM, ()).fetchone()[0])


def _in_plex_sum(conn: Connection) -> str:
    return str(driver_cursor(conn, IN_PLEX_SUM, ()).fetchone()[0])


def _scoped(conn: Connection, accounts: Mapping[str, int], bound: float, reading: Reading,
            basis: tuple[Any, ...]) -> PlanInputs | None:
    import numpy as np

    tracks = _changed_tracks(_unpack(basis[4]).reshape(2, -1), reading.matched)
    listed = sorted_unique(np.concatenate([_unpack(basis[5]), integer_columns(conn, (
        "SELECT scrobble_id FROM main.plan_changes WHERE seq > :seq"), {"seq": int(basis[3])},
        ("scrobble_id",))[0]]))
    limit = SCOPE_SHARE * max(reading.watermark, 1)
    if len(listed) > limit or len(tracks) > SCOPE_SHARE * max(len(reading.matched[0]), 1):
        return None
    select = scrobble_rows(accounts, bound)
    params = {**select.params, "ids": json_ints(listed), "tracks": json_ints(tracks),
              "above": int(basis[2])}
    parts = [select.complete(integer_columns(conn, sql.format(select.columns, select.where),
                                             params, select.names)) for sql in _SCOPE]
    scrobbles = [np.concatenate(column) for column in zip(*parts, strict=True)]
    sids, first = np.unique(scrobbles[0], return_index=True)  # sorted, each once
    if len(sids) > limit:
        return None
    scrobbles = [sids, *(c[first] for c in scrobbles[1:])]
    # with the listed ones whose scrobble is gone or not a mapped user's: their rows are read
    # (every ledger and "already in Plex" row the apply left is either its scrobble's play,
    # or stale and listed as unresolved)
    scope = sorted_unique(np.concatenate([sids, listed]))
    rows, texts = integer_columns(conn, LEDGER_ROWS, {"ids": json_ints(scope)},
                                  (*STALE_NAMES, "rating_key"), ("guid",))
    ledger = [rows[0], rows[2], rows[5]]  # scrobble_id, account_id, rating_key
    in_plex = integer_columns(conn, IN_PLEX, {}, ("scrobble_id", "account_id", "rating_key",
                                                  "native_viewed_at"))
    inside = np.isin(in_plex[0], scope)
    return PlanInputs(scrobbles=scrobbles, times=lambda _at, ids: times_of(conn, ids),
                      matched=reading.matched, durations=partial(durations, conn),
                      ledger=ledger, in_plex=[c[inside] for c in in_plex],
                      settled_in_plex=[c[~inside] for c in in_plex],
                      stale_rows=partial(_stale_rows, conn, rows[:5],
                                         json.loads(texts[0] or "[]")))


def _stale_rows(conn: Connection, rows: Ints, guids: list[str | None],
                stale: npt.NDArray[np.int64]) -> Stale:
    """`ledger_bulk.stale_rows` from the scope's ledger rows, read with the plan (the stale
    ones are among them; looked up again if not)."""
    import numpy as np

    at = np.searchsorted(rows[0], stale)
    if len(stale) and (int(at.max()) >= len(rows[0]) or not np.array_equal(rows[0][at], stale)):
        return stale_rows(conn, stale)
    return stale_of([c[at] for c in rows], [guids[i] for i in at.tolist()])


# the scope's scrobbles: listed by id, of the changed tracks, new (above the basis's highest)
_SCOPE = (
    "SELECT {0} FROM json_each(:ids) k CROSS JOIN main.scrobble_tracks st"
    " ON st.scrobble_id = k.value WHERE {1}",
    "SELECT {0} FROM json_each(:tracks) k CROSS JOIN main.scrobble_tracks st"
    " ON st.track_id = k.value WHERE {1}",
    "SELECT {0} FROM main.scrobble_tracks WHERE scrobble_id > :above AND {1}",
)


def _changed_tracks(before: npt.NDArray[np.int64], now: Ints) -> npt.NDArray[np.int64]:
    """The tracks matched in one of `before` and `now` (track_id, rating_key rows, each in
    track order) and not to the same rating key in the other."""
    import numpy as np

    tracks = max(int(before[0].max(initial=0)), int(now[0].max(initial=0))) + 1
    if min(int(before[0].min(initial=0)), int(now[0].min(initial=0))) >= 0 and \
            tracks <= 4 * (len(before[0]) + len(now[0])) + 1024:  # dense ids: two tables
        keys = [np.full(tracks, -1, dtype=np.int64) for _ in range(2)]
        for table, (ids, rating_keys) in zip(keys, (before, now), strict=True):
            table[ids] = rating_keys
        return np.flatnonzero(keys[0] != keys[1]).astype(np.int64)
    common, at_before, at_now = np.intersect1d(before[0], now[0], assume_unique=True,
                                               return_indices=True)
    moved = common[before[1][at_before] != now[1][at_now]]
    alone = np.setxor1d(before[0], now[0], assume_unique=True)
    return np.union1d(moved, alone).astype(np.int64)


def sorted_unique(values: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]:
    """The distinct values, sorted (numpy 2's np.unique hashes: 0.65 s for 1M values, a sort
    0.08 s)."""
    import numpy as np

    ordered = np.sort(np.asarray(values, dtype=np.int64))
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _unpack(blob: bytes) -> npt.NDArray[np.int64]:
    import numpy as np

    return np.frombuffer(blob, dtype="<i8").astype(np.int64)


def save(conn: Connection, reading: Reading, unresolved: npt.NDArray[np.integer[Any]],
         summed: str | None = None) -> None:
    """The basis of the next plan, after an apply of the plan that made `reading` finished
    (`unresolved`: the scrobbles it left unsettled; `summed`: what the ledger sums to, when
    known); the change log it covers is dropped."""
    import numpy as np

    ledger_summed, in_plex_sum = summed or ledger_sum(conn), _in_plex_sum(conn)
    matched = np.stack([np.asarray(c, dtype="<i8") for c in reading.matched])
    conn.exec_driver_sql(
        "INSERT OR REPLACE INTO plan_basis (id, accounts, bound, watermark, change_seq,"
        " matched, unresolved, ledger_sum, in_plex_sum, saved_at)"
        " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (reading.accounts, reading.bound, reading.watermark, reading.change_seq,
         matched.tobytes(), sorted_unique(unresolved).astype("<i8").tobytes(), ledger_summed,
         in_plex_sum, int(time.time())))
    conn.exec_driver_sql("DELETE FROM plan_changes WHERE seq <= ?", (reading.change_seq,))


def forget(conn: Connection) -> None:
    """No basis: the next plan reads the whole history."""
    conn.exec_driver_sql("DELETE FROM plan_basis")
