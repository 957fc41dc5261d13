"""What plexfm wrote into Plex (the ledger), what Plex already had, and each apply batch.

`applied_plays` has one row per scrobble written as a Plex history row: the row's fingerprint
(view id, account, guid, time), so every write can be undone exactly and nothing else ever is;
`plays_in_plex` records scrobbles found to be a play Plex already counted natively (never
written); `apply_batches` records each apply, and a batch left in state "writing" tells the
next apply that a crash may have separated Plex's commit from ours; `ledger_checks` records
each reconciliation of the ledger with Plex's database (the applied count is true as of then).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from daemon.scrobble import MAX_AHEAD_SECONDS
from daemon.store.engine import driver_cursor

if TYPE_CHECKING:  # pandas loads with the first apply, not with every command (status...)
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

WRITING, DONE, FAILED, RECOVERED = "writing", "done", "failed", "recovered"
VIEW_INDEX = "ix_applied_plays_view"  # migration 19: written rows in view_id order, covering


# Desired plays are joined in numpy, not in SQL: 1,000,000 scrobbles map onto ~100,000
# matched tracks, and the SQL join (a matches and a library_tracks lookup per scrobble, then a
# tuple per row for pandas) took 4-8 s where two integer reads and one hash lookup take ~1 s.
_SCROBBLE_TRACKS = """
SELECT scrobble_id, CASE user {whens} END, uts, track_id FROM scrobble_tracks
WHERE uts > 0 AND user IN ({marks}) ORDER BY scrobble_id
"""
_MATCHED_TRACKS = """
SELECT m.track_id, m.rating_key, l.duration_ms FROM matches m
LEFT JOIN library_tracks l ON l.rating_key = m.rating_key
WHERE m.status IN ('auto', 'manual')
"""


def _frame(conn: Connection, sql: str, params: tuple[Any, ...],
           columns: list[str]) -> pd.DataFrame:
    """A query's rows as a DataFrame through the driver's cursor (1M rows: no Row objects)."""
    import pandas as pd

    return pd.DataFrame(driver_cursor(conn, sql, params).fetchall(), columns=columns)


def _integers(rows: list[tuple[Any, ...]], width: int) -> npt.NDArray[np.int64]:
    """Rows of integers as one (n, width) array (one C loop, no per-row Python objects)."""
    import numpy as np

    return np.array(rows, dtype=np.int64).reshape(-1, width)


def fetch_integers(cursor: Any, width: int, chunk: int = 65536) -> npt.NDArray[np.int64]:
    """A cursor's integer rows as one (n, width) array, fetched in chunks: 1M rows as Python
    tuples at once left ~185 MB of freed but fragmented heap behind (the apply's peak RSS)."""
    import numpy as np

    parts = [_integers(rows, width) for rows in iter(lambda: cursor.fetchmany(chunk), [])]
    return np.concatenate(parts) if parts else np.empty((0, width), dtype=np.int64)


def desired_plays(conn: Connection, users: Sequence[str]) -> pd.DataFrame:
    """Every dated scrobble of `users` whose track is matched, in scrobble_id order:
    scrobble_id, user, uts, rating_key, duration_ms (of the library track; NaN if unknown)."""
    import numpy as np
    import pandas as pd

    columns = ["scrobble_id", "user", "uts", "rating_key", "duration_ms"]
    users = list(dict.fromkeys(users))
    if not users:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns}).astype(
            {"user": object, "duration_ms": "float64"})
    whens = " ".join(f"WHEN ? THEN {i}" for i in range(len(users)))
    marks = ", ".join("?" for _ in users)
    plays = fetch_integers(driver_cursor(conn, _SCROBBLE_TRACKS.format(whens=whens, marks=marks),
                                    (*users, *users)), 4)
    matched = driver_cursor(conn, _MATCHED_TRACKS).fetchall()
    tracks = _integers([(t, k) for t, k, _d in matched], 2)
    durations = np.array([np.nan if d is None else d for _t, _k, d in matched],
                         dtype="float64")
    at = pd.Index(tracks[:, 0]).get_indexer(pd.Index(plays[:, 3]))  # -1: the track is not matched
    keep = at >= 0
    plays, at = plays[keep], at[keep]
    # the user as a categorical: mapping users to accounts is then per user, not per play
    return pd.DataFrame({"scrobble_id": plays[:, 0],
                         "user": pd.Categorical.from_codes(plays[:, 1], pd.Index(users)),
                         "uts": plays[:, 2], "rating_key": tracks[at, 1],
                         "duration_ms": durations[at]}, columns=columns)


def matched_play_count(conn: Connection, users: Sequence[str], *,
                       now: float | None = None) -> int:
    """How many dated scrobbles of `users` are matched to a library track (with `now`: only
    those an apply may write, dated 0 < uts <= now + 1 day, `daemon.scrobble.uts_in_range`)."""
    marks = ", ".join("?" for _ in users)
    bound = "" if now is None else f" AND st.uts <= {int(now) + MAX_AHEAD_SECONDS}"
    return int(conn.exec_driver_sql(
        "SELECT count(*) FROM scrobble_tracks st CROSS JOIN matches m ON m.track_id ="
        f" st.track_id WHERE m.status IN ('auto', 'manual') AND st.uts > 0{bound} AND st.user IN"
        f" ({marks})", tuple(users)).scalar_one())


def applied(conn: Connection) -> pd.DataFrame:
    """The ledger: scrobble_id, account_id, rating_key, view_id (nullable), fingerprinted
    (whether the row's guid and time are known, so that it may be removed)."""
    import pandas as pd

    rows = fetch_integers(driver_cursor(conn, "SELECT scrobble_id, account_id, rating_key, view_id"
                                         " IS NULL, coalesce(view_id, 0), guid IS NOT NULL AND"
                                         " viewed_at IS NOT NULL FROM applied_plays"), 6)
    view_id = pd.arrays.IntegerArray(rows[:, 4].copy(), rows[:, 3].astype(bool))
    return pd.DataFrame({"scrobble_id": rows[:, 0], "account_id": rows[:, 1],
                         "rating_key": rows[:, 2], "view_id": view_id,
                         "fingerprinted": rows[:, 5].astype(bool)})


def fingerprints(conn: Connection, scrobble_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """scrobble_id -> (guid, viewed_at) of those ledger rows whose fingerprint is known."""
    ids = sorted({int(i) for i in scrobble_ids})
    found: dict[int, tuple[str, int]] = {}
    for first in range(0, len(ids), 500):
        chunk = ids[first:first + 500]
        marks = ", ".join("?" for _ in chunk)
        for sid, guid, viewed_at in conn.exec_driver_sql(
                f"SELECT scrobble_id, guid, viewed_at FROM applied_plays WHERE scrobble_id IN"
                f" ({marks}) AND guid IS NOT NULL AND viewed_at IS NOT NULL", tuple(chunk)):
            found[int(sid)] = (str(guid), int(viewed_at))
    return found


def written_rows_sql(schema: str) -> str:
    """The SELECT of every ledger row with a history row, the store attached as `schema` to
    another connection: (scrobble_id, view_id, account_id, guid, viewed_at), in view_id order:
    read from the covering index of migration 19 (named, so no plan of SQLite's falls back to
    the table's scrobble id order), Plex's history is probed in id order, never at random."""
    return ("SELECT scrobble_id, view_id, account_id, guid, viewed_at"
            f' FROM "{schema}".applied_plays INDEXED BY {VIEW_INDEX} WHERE view_id IS NOT NULL')


def in_plex_sql(schema: str) -> str:
    """The SELECT of the "already in Plex" records, the store attached as `schema` to another
    connection: (scrobble_id, account_id, rating_key, native_viewed_at)."""
    return ("SELECT scrobble_id, account_id, rating_key, native_viewed_at"
            f' FROM "{schema}".plays_in_plex')


def in_plex(conn: Connection) -> pd.DataFrame:
    """Scrobbles recorded as plays Plex already had: scrobble_id, account_id, rating_key,
    native_viewed_at."""
    columns = ["scrobble_id", "account_id", "rating_key", "native_viewed_at"]
    return _frame(conn, f"SELECT {', '.join(columns)} FROM plays_in_plex", (), columns
                  ).astype("int64")


def start_batch(conn: Connection, mode: str, max_view_id_before: int | None) -> int:
    """Record an apply about to write; return its id."""
    result = conn.exec_driver_sql(
        "INSERT INTO apply_batches (started_at, mode, state, max_view_id_before)"
        " VALUES (?, ?, ?, ?)", (time.time(), mode, WRITING, max_view_id_before))
    return int(result.lastrowid or 0)


def finish_batch(conn: Connection, batch_id: int, state: str, *, added: int = 0,
                 removed: int = 0, already: int = 0, backup: str | None = None,
                 note: str | None = None) -> None:
    conn.exec_driver_sql(
        "UPDATE apply_batches SET finished_at = ?, state = ?, added = ?, removed = ?,"
        " already_in_plex = ?, backup = ?, note = ? WHERE id = ?",
        (time.time(), state, added, removed, already, backup, note, batch_id))


def unfinished_batches(conn: Connection) -> list[tuple[int, int | None]]:
    """Batches left in state "writing" by a crash: (id, max_view_id_before)."""
    return [(int(i), m) for i, m in conn.exec_driver_sql(
        "SELECT id, max_view_id_before FROM apply_batches WHERE state = ? ORDER BY id",
        (WRITING,))]


Written = tuple[int, int, int, int | None, str | None, int | None]
"""A ledger row: (scrobble_id, account_id, rating_key, view_id, guid, viewed_at)."""


def record_applied(conn: Connection, batch_id: int, rows: Iterable[Written],
                   *, replace: bool = False) -> int:
    """Add ledger rows (`Written`: the history row's fingerprint; None for api mode's marks,
    which have no row); return how many.

    `replace` overwrites rows that exist (recovery); otherwise the rows must be new."""
    now = int(time.time())
    data = sorted(rows, key=itemgetter(0))  # key order: sequential B-tree work
    if not data:
        return 0
    conn.exec_driver_sql(  # batch and time as literals: no 6-tuple per row (1M in a big apply)
        f"INSERT {'OR REPLACE ' if replace else ''}INTO applied_plays (scrobble_id, account_id,"
        " rating_key, view_id, guid, viewed_at, batch_id, applied_at)"
        f" VALUES (?, ?, ?, ?, ?, ?, {int(batch_id)}, {now})", data)
    return len(data)


def forget_applied(conn: Connection, scrobble_ids: Iterable[int]) -> None:
    """Drop ledger rows whose history rows were removed from Plex."""
    _delete(conn, "applied_plays", scrobble_ids)


def record_in_plex(conn: Connection, rows: Iterable[tuple[int, int, int, int]]) -> None:
    """Remember scrobbles that are plays Plex already had
    (scrobble_id, account_id, rating_key, native_viewed_at)."""
    now = int(time.time())
    data = [(*row, now) for row in rows]
    if data:
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO plays_in_plex (scrobble_id, account_id, rating_key,"
            " native_viewed_at, checked_at) VALUES (?, ?, ?, ?, ?)", data)


def forget_in_plex(conn: Connection, scrobble_ids: Iterable[int]) -> None:
    """Drop "already in Plex" records whose match changed (they are checked again)."""
    _delete(conn, "plays_in_plex", scrobble_ids)


def _delete(conn: Connection, table: str, scrobble_ids: Iterable[int]) -> None:
    """One statement over the ids bound as one JSON array (100k rows: 0.75 s as single
    DELETEs, 0.39 s so)."""
    ids = [int(i) for i in scrobble_ids]
    if ids:
        conn.exec_driver_sql(f"DELETE FROM {table} WHERE scrobble_id IN"
                             " (SELECT value FROM json_each(?))", (json_ints(ids),))


def json_ints(values: Sequence[int] | npt.NDArray[np.integer[Any]]) -> str:
    """Integers as one JSON array (for json_each: one parameter, not one statement each)."""
    items = values.tolist() if hasattr(values, "tolist") else values
    return f"[{','.join(map(str, items))}]"


def record_check(conn: Connection, source: str, *, forgotten: int, natives_gone: int) -> int:
    """Record a reconciliation with Plex's database; return the history rows of ours present."""
    present = int(conn.exec_driver_sql(
        "SELECT count(*) FROM applied_plays WHERE view_id IS NOT NULL").scalar_one())
    conn.exec_driver_sql(
        "INSERT INTO ledger_checks (checked_at, source, present, forgotten, natives_gone)"
        " VALUES (?, ?, ?, ?, ?)", (time.time(), source, present, forgotten, natives_gone))
    return present


def summary(conn: Connection) -> dict[str, Any]:
    """Counts for status: applied plays, plays already in Plex, the last apply, the last
    reconciliation with Plex's database (the counts are true as of then)."""
    applied_count = conn.exec_driver_sql("SELECT count(*) FROM applied_plays").scalar_one()
    already = conn.exec_driver_sql("SELECT count(*) FROM plays_in_plex").scalar_one()
    check = conn.exec_driver_sql(
        "SELECT checked_at, source, present, forgotten, natives_gone FROM ledger_checks"
        " ORDER BY id DESC LIMIT 1").mappings().first()
    return {"applied_plays": int(applied_count), "already_in_plex": int(already),
            "last_apply": last_apply(conn),
            "last_check": dict(check) if check else None}


# the start of the job run (apply or revert, not a dry run) during which a batch started: its
# batches are that apply's transactions (a live apply writes `apply.live_batch` plays in each)
_RUN_START = """
SELECT max(r.started_at) FROM job_runs r WHERE r.job IN ('apply', 'revert')
AND coalesce(json_extract(r.counts, '$.mode'), '') != 'dry-run'
AND r.started_at <= ?1 AND (r.finished_at IS NULL OR r.finished_at >= ?1)
"""


def last_apply(conn: Connection) -> dict[str, Any] | None:
    """The newest apply as a whole: the batches written during the job run of the newest batch
    (that batch alone when no run holds it), with their sums, their number (`transactions`),
    the run's backup, and the state, mode and note of the last one."""
    last = conn.exec_driver_sql(
        "SELECT id, started_at, finished_at, mode, state, backup, note FROM apply_batches"
        " ORDER BY id DESC LIMIT 1").mappings().first()
    if last is None:
        return None
    since = conn.exec_driver_sql(_RUN_START, (last["started_at"],)).scalar()
    rows = conn.exec_driver_sql(
        "SELECT started_at, added, removed, already_in_plex, backup FROM apply_batches"
        " WHERE id <= ? AND started_at >= ? ORDER BY id",
        (last["id"], last["started_at"] if since is None else since)).all()
    return {**last, "started_at": rows[0][0], "transactions": len(rows),
            "added": sum(r[1] for r in rows), "removed": sum(r[2] for r in rows),
            "already_in_plex": sum(r[3] for r in rows),
            "backup": next((r[4] for r in rows if r[4]), None)}
