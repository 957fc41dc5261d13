"""The apply's bulk work on the ledger: the columns its plan is computed from (read by plain
scans, no probe per play), the fingerprints of the rows it reverts, and the ledger rows of a
large write.

`plan_inputs` reads the scrobbles of mapped users and the matched tracks in one read
transaction (a pull or match job may commit meanwhile), and the ledger and the "already in
Plex" records, which only the apply writes, under its lock; the ledger on a second connection
in a helper thread when the store is a file (SQLite releases the GIL while it reads). The
rules that join them are `daemon.apply.plan_columns`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import compress
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from daemon.store.columns import Ints, by_scrobble_ids, integer_columns
from daemon.store.engine import bulk_cache, per_thread_database, put_back, set_aside
from daemon.store.ledger import json_ints

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# a scan in key order (through the status index, then a sort: 0.06 s instead of 0.04 s)
_MATCHED = ("SELECT track_id, rating_key FROM matches NOT INDEXED WHERE status IN ('auto',"
            " 'manual') ORDER BY track_id")
_DURATIONS = ("SELECT rating_key, duration_ms FROM library_tracks WHERE duration_ms IS NOT NULL"
              " ORDER BY rating_key")
_SOME_DURATIONS = ("SELECT l.rating_key, l.duration_ms FROM json_each(:keys) k CROSS JOIN"
                   " library_tracks l ON l.rating_key = k.value WHERE l.duration_ms IS NOT NULL")
_SOME_TIMES = ("SELECT st.scrobble_id, st.uts FROM json_each(:ids) k CROSS JOIN"
               " main.scrobble_tracks st ON st.scrobble_id = k.value")
FEW_LOOKUPS = 20_000  # tracks (or scrobbles) looked up one by one, not by a scan
_LEDGER = ("SELECT scrobble_id, account_id, rating_key FROM applied_plays WHERE scrobble_id"
           " BETWEEN :lo AND :hi ORDER BY scrobble_id")
IN_PLEX = ("SELECT scrobble_id, account_id, rating_key, native_viewed_at FROM plays_in_plex"
            " ORDER BY scrobble_id")
# the ids as one JSON array, the outer loop (CROSS JOIN): the rows come in its order, checked
# (a TEMP table filled by `executemany` cost 0.1 s for 100k ids)
LEDGER_ROWS = ("SELECT r.scrobble_id AS scrobble_id, coalesce(r.view_id, 0) AS view_id,"
               " r.account_id AS account_id, coalesce(r.viewed_at, 0) AS viewed_at, r.view_id IS"
               " NOT NULL AND r.guid IS NOT NULL AND r.viewed_at IS NOT NULL AS removable,"
               " r.guid AS guid, r.rating_key AS rating_key FROM json_each(:ids) s CROSS JOIN"
               " main.applied_plays r ON r.scrobble_id = s.value")
STALE_NAMES = ("scrobble_id", "view_id", "account_id", "viewed_at", "removable")
Stale = tuple[list[tuple[int, int, int]], list[int], dict[int, tuple[str, int]]]


@dataclass
class PlanInputs:
    """The columns of the plan, each table's in its key order."""

    scrobbles: Ints
    """scrobble_id, track, account_id of the scrobbles of mapped users dated uts > 0; track:
    track_id * 2, + 1 when the scrobble is dated after the bound."""
    times: Callable[[npt.NDArray[np.integer[Any]], npt.NDArray[np.integer[Any]]],
                    npt.NDArray[np.int64]]
    """The uts of some of those scrobbles, given their positions and scrobble ids (read in
    the same transaction only for the plays to write: few, but for a first apply)."""
    matched: Ints
    """track_id, rating_key of the matched tracks ('auto' or 'manual')."""
    durations: Callable[[npt.NDArray[np.integer[Any]]], Ints]
    """rating_key, duration_ms of those of the given tracks (rating keys) whose duration is
    known, read in the same transaction."""
    ledger: Ints
    """scrobble_id, account_id, rating_key of the plays plexfm wrote."""
    in_plex: Ints
    """scrobble_id, account_id, rating_key, native_viewed_at of the "already in Plex" records."""
    stale_rows: Callable[[npt.NDArray[np.int64]], Stale] | None = None
    """`stale_rows` answered from rows already read (an incremental plan reads them anyway)."""
    settled_in_plex: Ints = ()
    """Those of them outside an incremental plan's scope (`plan_scope`): held, as they were
    after the last apply; they only claim their native plays."""


def plan_inputs(engine: Engine, conn: Connection, accounts: Mapping[str, int],
                bound: float, matched: Ints | None = None) -> PlanInputs:
    """The plan's columns; `conn` holds the read transaction of the scrobbles and matches
    (`matched`: the matched tracks, when already read in it)."""
    if per_thread_database(engine):  # a thread would see another, empty database
        ledger = _ledger(conn)
        return _inputs(conn, accounts, bound, ledger, matched)
    with ThreadPoolExecutor(max_workers=1) as helper:
        future = helper.submit(_ledger_apart, engine)
        inputs = _inputs(conn, accounts, bound, [], matched)
        inputs.ledger = future.result()
    return inputs


def _ledger_apart(engine: Engine) -> Ints:
    with engine.connect() as conn, bulk_cache(conn):
        return _ledger(conn)


def _ledger(conn: Connection) -> Ints:
    return by_scrobble_ids(conn, "applied_plays", _LEDGER, {},
                           ("scrobble_id", "account_id", "rating_key"))


@dataclass(frozen=True)
class ScrobbleRows:
    """The plan's columns of scrobble_tracks for some accounts and time bound (one account
    for every user, the common case: a constant, not a column read per play)."""

    columns: str
    where: str
    params: dict[str, Any]
    names: tuple[str, ...]
    account: int | None

    def complete(self, columns: Ints) -> Ints:
        import numpy as np

        if self.account is None:
            return columns
        return [*columns, np.broadcast_to(np.int64(self.account), columns[0].shape)]


def scrobble_rows(accounts: Mapping[str, int], bound: float) -> ScrobbleRows:
    params: dict[str, Any] = {"bound": float(bound)}
    whens = []
    for i, (user, acct) in enumerate(accounts.items()):
        params[f"u{i}"], params[f"a{i}"] = user, int(acct)
        whens.append(f"WHEN :u{i} THEN :a{i}")
    users = ", ".join(f":u{i}" for i in range(len(accounts))) or "NULL"
    one = int(next(iter(accounts.values()))) if len(set(accounts.values())) == 1 else None
    account = "" if one is not None else \
        f", CASE user {' '.join(whens)} END AS account_id" if whens else ", NULL AS account_id"
    return ScrobbleRows(f"scrobble_id, track_id * 2 + (uts > :bound) AS track{account}",
                        f"uts > 0 AND user IN ({users})", params,
                        ("scrobble_id", "track", *(() if one is not None else ("account_id",))),
                        one)


def matched_tracks(conn: Connection) -> Ints:
    return integer_columns(conn, _MATCHED, {}, ("track_id", "rating_key"))


def _inputs(conn: Connection, accounts: Mapping[str, int], bound: float,
            ledger: Ints, matched: Ints | None) -> PlanInputs:
    select = scrobble_rows(accounts, bound)
    rows = (f"FROM main.scrobble_tracks WHERE scrobble_id BETWEEN :lo AND :hi AND"
            f" {select.where} ORDER BY scrobble_id")
    scrobbles = select.complete(by_scrobble_ids(
        conn, "main.scrobble_tracks", f"SELECT {select.columns} {rows}", select.params,
        select.names))
    return PlanInputs(
        scrobbles=scrobbles, times=partial(_times, conn, f"SELECT uts {rows}", select.params,
                                           len(scrobbles[0])),
        matched=matched_tracks(conn) if matched is None else matched,
        durations=partial(durations, conn),
        ledger=ledger, in_plex=integer_columns(conn, IN_PLEX, {}, (
            "scrobble_id", "account_id", "rating_key", "native_viewed_at")))


def _times(conn: Connection, sql: str, params: Mapping[str, Any], count: int,
           at: npt.NDArray[np.integer[Any]], sids: npt.NDArray[np.integer[Any]]
           ) -> npt.NDArray[np.int64]:
    """The uts of the scrobbles `sids` at positions `at` of the rows of `sql`: looked up one by
    one when few, else the column of every row."""
    import numpy as np

    if len(at) > FEW_LOOKUPS:
        (every,) = by_scrobble_ids(conn, "main.scrobble_tracks", sql, params, ("uts",),
                                   keyed=False)
        if len(every) != count:
            raise ValueError(f"expected {count} scrobbles, read {len(every)}")
        chosen: npt.NDArray[np.int64] = every[at].astype(np.int64)
        return chosen
    return times_of(conn, sids)


def times_of(conn: Connection, sids: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]:
    """The uts of the scrobbles `sids`, each looked up by its id."""
    import numpy as np

    found, uts = integer_columns(conn, _SOME_TIMES, {"ids": json_ints(sids)}, ("scrobble_id",
                                                                          "uts"))
    if not np.array_equal(found, sids):
        raise ValueError("the scrobbles changed while the plan was read")
    return uts


def durations(conn: Connection, keys: npt.NDArray[np.integer[Any]]) -> Ints:
    import numpy as np

    names = ("rating_key", "duration_ms")
    if len(keys) > FEW_LOOKUPS:
        return integer_columns(conn, _DURATIONS, {}, names)
    return integer_columns(conn, _SOME_DURATIONS, {"keys": json_ints(np.unique(keys))}, names)


def stale_rows(conn: Connection, scrobble_ids: npt.NDArray[np.int64]) -> Stale:
    """The ledger rows of `scrobble_ids` (sorted): (the removable ones as (scrobble_id,
    view_id, account_id), the scrobble ids of those that cannot be: no history row or no
    fingerprint), in scrobble id order, and the removable ones' fingerprints: scrobble_id ->
    (guid, viewed_at). Read as columns: a Python loop over 100k rows cost 0.2 s."""
    if not len(scrobble_ids):
        return [], [], {}
    columns, texts = integer_columns(conn, LEDGER_ROWS, {"ids": json_ints(scrobble_ids)},
                                     STALE_NAMES, ("guid",))
    return stale_of(columns, json.loads(texts[0] or "[]"))


def stale_of(columns: Ints, guids: list[str | None]) -> Stale:
    """`stale_rows` from the columns `STALE_NAMES` of `LEDGER_ROWS` and its guids (rows in
    scrobble id order)."""
    import numpy as np

    sids, views, accounts, times, removable = columns
    if len(sids) > 1 and not bool(np.all(sids[1:] > sids[:-1])):
        raise ValueError("stale ledger rows not in scrobble id order")
    ok = removable.astype(bool)
    prints = list(compress(guids, ok.tolist()))
    kept = sids[ok].tolist()
    remove = list(zip(kept, views[ok].tolist(), accounts[ok].tolist(), strict=True))
    return remove, sids[~ok].tolist(), dict(zip(kept, zip(prints, times[ok].tolist(),
                                                             strict=True), strict=True))


def our_view_ids(conn: Connection) -> npt.NDArray[np.int64]:
    """Every history id the ledger holds (Plex's rows plexfm wrote)."""
    return integer_columns(conn, "SELECT view_id FROM applied_plays WHERE view_id IS NOT NULL",
                           {}, ("view_id",))[0]


REBUILD_MIN_ROWS = 100_000
"""Writing at least this many ledger rows, and at least as many as the ledger holds, drops the
rating key index and builds it again afterwards, in the same transaction (no other connection
sees the ledger without it): one sort instead of a random B-tree insert per row (1M rows into
an empty ledger: 5.1-6.0 s -> 3.3-3.6 s)."""


def record_written(conn: Connection, batch_id: int, account: int,
                   columns: Sequence[npt.NDArray[np.int64]], guids: Mapping[int, str]) -> int:
    """Add the ledger rows of one write: `columns` are scrobble_id, rating_key, view_id and
    viewed_at arrays, `guids` rating_key -> guid written. Sorted by scrobble id in numpy and
    bound in chunks: no 1M-element list of tuples."""
    import numpy as np

    sids, keys, views, times = columns
    order = np.argsort(sids, kind="stable")  # key order: sequential B-tree work
    indexes = set_aside(conn, "applied_plays") if len(order) >= REBUILD_MIN_ROWS and len(
        order) >= int(conn.exec_driver_sql("SELECT count(*) FROM applied_plays").scalar() or 0
                      ) else []
    now = int(time.time())
    sql = ("INSERT INTO applied_plays (scrobble_id, account_id, rating_key, view_id, guid,"
           f" viewed_at, batch_id, applied_at) VALUES (?, {int(account)}, ?, ?, ?, ?,"
           f" {int(batch_id)}, {now})")
    raw = conn.connection.driver_connection
    for first in range(0, len(order), 100_000):
        at = order[first:first + 100_000]
        rating_keys = keys[at].tolist()
        raw.executemany(sql, zip(  # type: ignore[union-attr]
            sids[at].tolist(), rating_keys, views[at].tolist(),
            map(guids.__getitem__, rating_keys), times[at].tolist(), strict=True))
    put_back(conn, indexes)
    return len(order)
