"""The apply's bulk work on the ledger: the plan computed inside the store (only what changed
comes out), and the ledger rows of a large write.

A play is *desired* when its scrobble is dated 0 < uts <= `bound` (now + 1 day,
`daemon.scrobble.uts_in_range`), belongs to a user mapped to a Plex account, and its track is
matched ('auto' or 'manual'). The rules are those of `daemon.apply.plan.diff` (which computes
them from frames, for the crash recovery); here each is one SQL statement over the store
(`LedgerDiff`):

* `candidates`: desired plays with no ledger row and no "already in Plex" record for the same
  (scrobble, account, track); with a 1,000,000-play ledger, an apply of a few new plays reads
  those few, not every play and every ledger row;
* `stale`: ledger rows whose scrobble is no longer desired with that account and track;
* `outdated_in_plex` / `claimed`: "already in Plex" records that are stale / still good.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from daemon.store.engine import driver_cursor

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# the matched tracks, copied once into a narrow TEMP table: probing `matches` itself (wide
# rows: suggestions, alternatives) once per play cost 0.5-1 s per 1M plays
_MATCHED = (
    "CREATE TEMP TABLE plexfm_matched (track_id INTEGER PRIMARY KEY, rating_key INTEGER,"
    " duration_ms INTEGER)",
    "INSERT INTO plexfm_matched SELECT m.track_id, m.rating_key, l.duration_ms FROM"
    " main.matches m LEFT JOIN main.library_tracks l ON l.rating_key = m.rating_key"
    " WHERE m.status IN ('auto', 'manual')")
_DROP = ("DROP TABLE IF EXISTS temp.plexfm_matched", "DROP TABLE IF EXISTS temp.plexfm_diff",
         "DROP TABLE IF EXISTS temp.plexfm_desired")
# {account}: the CASE expression mapping st.user to its account id; {users}: its marks
_DESIRED = """
SELECT st.scrobble_id AS scrobble_id, {account} AS account_id, m.rating_key AS rating_key
FROM main.scrobble_tracks st CROSS JOIN temp.plexfm_matched m ON m.track_id = st.track_id
WHERE st.uts > 0 AND st.uts <= :bound AND st.user IN ({users})
"""
_LEDGER = "SELECT scrobble_id, account_id, rating_key FROM main.applied_plays"
# the desired plays, evaluated once (a scan of the scrobbles and a probe of the matched tracks
# per play: the costly side) and staged for both differences, which then merge two plain scans
# in scrobble id order (1M plays: 1.6 s of CPU for the two differences -> about 0.9 s)
_DESIRED_TABLE = ("CREATE TEMP TABLE plexfm_desired (scrobble_id INTEGER PRIMARY KEY,"
                  " account_id INTEGER, rating_key INTEGER)")
_STAGED = "SELECT scrobble_id, account_id, rating_key FROM temp.plexfm_desired"
# the difference of two sets of (scrobble, account, track), staged in a TEMP table: as the
# top-level SELECT of an INSERT, both sides come in scrobble id order and SQLite merges them
# (no sort, no probe per row; inside a subquery it builds a TEMP B-tree instead)
_DIFF = ("CREATE TEMP TABLE plexfm_diff (scrobble_id INTEGER PRIMARY KEY, account_id INTEGER,"
         " rating_key INTEGER)")
_DURATION = ("m.duration_ms IS NULL AS no_duration, CAST(coalesce(m.duration_ms, 0) AS"
             " INTEGER) AS duration_ms")
_CANDIDATES = f"""
SELECT c.scrobble_id, c.account_id, c.rating_key, st.uts, {_DURATION} FROM temp.plexfm_diff c
CROSS JOIN main.scrobble_tracks st ON st.scrobble_id = c.scrobble_id
CROSS JOIN temp.plexfm_matched m ON m.track_id = st.track_id
WHERE NOT EXISTS (SELECT 1 FROM main.plays_in_plex p WHERE p.scrobble_id = c.scrobble_id
                  AND p.account_id = c.account_id AND p.rating_key = c.rating_key)
ORDER BY c.scrobble_id
"""
_STALE = """
SELECT r.scrobble_id, r.view_id, r.account_id, r.guid, r.viewed_at FROM temp.plexfm_diff s
CROSS JOIN main.applied_plays r ON r.scrobble_id = s.scrobble_id ORDER BY r.scrobble_id
"""
_NOT_IN_PLEX = """
AND NOT EXISTS (SELECT 1 FROM main.plays_in_plex p WHERE p.scrobble_id = st.scrobble_id
                AND p.account_id = {account} AND p.rating_key = m.rating_key) ORDER BY 1
"""
# a row of plays_in_plex (alias r) is still desired: its scrobble, with its account and track
_STILL = """
EXISTS (SELECT 1 FROM ({desired} AND st.scrobble_id = r.scrobble_id) d
        WHERE d.rating_key = r.rating_key AND d.account_id = r.account_id)
"""
_OUT_OF_RANGE = """
SELECT count(*) FROM main.scrobble_tracks st CROSS JOIN temp.plexfm_matched m
ON m.track_id = st.track_id WHERE st.uts > :bound AND st.user IN ({users})
"""


def integer_columns(conn: Connection, sql: str, params: Mapping[str, Any],
                    names: tuple[str, ...]) -> list[npt.NDArray[np.int64]]:
    """Integer columns `names` of a query's rows, as arrays in the query's row order: each
    column comes out as one space-separated text built by SQLite and parsed by numpy, with no
    Python tuple per row (1M rows of 4 columns: 1.2 s instead of 1.7 s with fetchmany)."""
    import numpy as np

    concat = ", ".join(f"group_concat({n}, ' ')" for n in names)
    row = driver_cursor(conn, f"SELECT count(*), {concat} FROM ({sql})", params).fetchone()
    count, texts = int(row[0]), row[1:]
    columns = [np.fromstring(t or "", dtype=np.int64, sep=" ") for t in texts]
    if any(len(c) != count for c in columns):  # a NULL or non-integer value
        raise ValueError(f"expected {count} integers in each of {names}")
    return columns


class LedgerDiff:
    """The plan's questions to the store, on one connection (inside `with`: the matched
    tracks are staged in a TEMP table, dropped at the end). `bound` None: nothing is
    desired (revert everything)."""

    def __init__(self, conn: Connection, accounts: Mapping[str, int],
                 bound: float | None) -> None:
        self.conn = conn
        self.params: dict[str, Any] = {"bound": 0.0 if bound is None else float(bound)}
        whens = []
        for i, (user, acct) in enumerate(accounts.items()):
            self.params[f"u{i}"], self.params[f"a{i}"] = user, int(acct)
            whens.append(f"WHEN :u{i} THEN :a{i}")
        self.users = ", ".join(f":u{i}" for i in range(len(accounts))) or "NULL"
        account = f"(CASE st.user {' '.join(whens)} END)" if whens else "NULL"
        self.desired = _DESIRED.format(account=account, users=self.users)
        self.not_in_plex = _NOT_IN_PLEX.format(account=account)
        self.ledger_empty = False
        self._staged = False

    def __enter__(self) -> LedgerDiff:
        for sql in _MATCHED:  # in the connection's transaction (executescript would commit)
            self.conn.exec_driver_sql(sql)
        self.ledger_empty = bool(self._rows(
            "SELECT NOT EXISTS (SELECT 1 FROM main.applied_plays)").fetchone()[0])
        return self

    def __exit__(self, *_exc: object) -> None:
        for sql in _DROP:
            self.conn.exec_driver_sql(sql)

    def _stage(self, sql: str) -> None:
        """The rows of `sql` (scrobble_id, account_id, rating_key) into temp.plexfm_diff."""
        self.conn.exec_driver_sql("DROP TABLE IF EXISTS temp.plexfm_diff")
        self.conn.exec_driver_sql(_DIFF)
        self._rows(f"INSERT INTO temp.plexfm_diff {sql}")

    def _desired_once(self) -> str:
        """The desired plays, staged in temp.plexfm_desired at the first call: a SELECT of
        them in scrobble id order."""
        if not self._staged:
            self.conn.exec_driver_sql("DROP TABLE IF EXISTS temp.plexfm_desired")
            self.conn.exec_driver_sql(_DESIRED_TABLE)
            self._rows(f"INSERT INTO temp.plexfm_desired {self.desired} ORDER BY 1")
            self._staged = True
        return _STAGED

    def _rows(self, sql: str, **params: Any) -> Any:
        return driver_cursor(self.conn, sql, {**self.params, **params})

    def candidates(self) -> tuple[list[npt.NDArray[np.int64]], npt.NDArray[np.float64]]:
        """Desired plays not yet written nor known to be in Plex, in scrobble id order: arrays
        of scrobble_id, account_id, rating_key, uts, and the tracks' durations in ms (NaN when
        unknown)."""
        import numpy as np

        names = ("scrobble_id", "account_id", "rating_key", "uts", "no_duration",
                 "duration_ms")
        if self.ledger_empty:  # every desired play (a first apply): no difference to take
            columns = integer_columns(self.conn, self.desired.replace(
                "AS rating_key", f"AS rating_key, st.uts AS uts, {_DURATION}")
                + self.not_in_plex, self.params, names)
        else:
            self._stage(f"{self._desired_once()} EXCEPT {_LEDGER} ORDER BY 1")
            columns = integer_columns(self.conn, _CANDIDATES, self.params, names)
        duration = columns[5].astype(np.float64)
        duration[columns[4] != 0] = np.nan
        return columns[:4], duration

    def stale(self) -> tuple[list[tuple[int, int, int]], list[int],
                             dict[int, tuple[str, int]]]:
        """Ledger rows no longer desired: (the removable ones as (scrobble_id, view_id,
        account_id), the scrobble ids of those that cannot be: no history row or no
        fingerprint), in scrobble id order, and the removable ones' fingerprints: scrobble_id
        -> (guid, viewed_at)."""
        remove: list[tuple[int, int, int]] = []
        unremovable: list[int] = []
        prints: dict[int, tuple[str, int]] = {}
        if self.ledger_empty:
            return remove, unremovable, prints
        self._stage(f"{_LEDGER} EXCEPT {self._desired_once()} ORDER BY 1")
        for sid, view, account, guid, viewed_at in self._rows(_STALE):
            if view is not None and guid is not None and viewed_at is not None:
                remove.append((int(sid), int(view), int(account)))
                prints[int(sid)] = (str(guid), int(viewed_at))
            else:
                unremovable.append(int(sid))
        return remove, unremovable, prints

    def outdated_in_plex(self) -> list[int]:
        """Scrobble ids of "already in Plex" records whose play is no longer desired so."""
        still = _STILL.format(desired=self.desired)
        return [int(r[0]) for r in self._rows(
            f"SELECT r.scrobble_id FROM main.plays_in_plex r WHERE NOT {still} ORDER BY 1")]

    def claimed(self) -> dict[tuple[int, int], list[int]]:
        """(account, rating_key) -> sorted native times of the "already in Plex" records that
        still hold: those native plays are taken."""
        still = _STILL.format(desired=self.desired)
        taken: dict[tuple[int, int], list[int]] = {}
        for account, key, viewed_at in self._rows(
                "SELECT r.account_id, r.rating_key, r.native_viewed_at FROM main.plays_in_plex"
                f" r WHERE {still} ORDER BY 1, 2, 3"):
            taken.setdefault((int(account), int(key)), []).append(int(viewed_at))
        return taken

    def out_of_range(self, bound: float) -> int:
        """Matched plays of mapped users dated after `bound`: never written."""
        return int(self._rows(_OUT_OF_RANGE.format(users=self.users),
                              bound=float(bound)).fetchone()[0])


def our_view_ids(conn: Connection) -> npt.NDArray[np.int64]:
    """Every history id the ledger holds (Plex's rows plexfm wrote)."""
    from daemon.store.ledger import fetch_integers

    return fetch_integers(driver_cursor(conn, "SELECT view_id FROM applied_plays WHERE view_id IS"
                                        " NOT NULL", {}), 1)[:, 0]


def record_written(conn: Connection, batch_id: int, account: int,
                   columns: Sequence[npt.NDArray[np.int64]], guids: Mapping[int, str]) -> int:
    """Add the ledger rows of one write: `columns` are scrobble_id, rating_key, view_id and
    viewed_at arrays, `guids` rating_key -> guid written. Sorted by scrobble id in numpy and
    bound in chunks: no 1M-element list of tuples."""
    import numpy as np

    sids, keys, views, times = columns
    order = np.argsort(sids, kind="stable")  # key order: sequential B-tree work
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
    return len(order)
