"""After an apply: does Plex itself show what plexfm wrote? A sample of the written tracks is
read back through the HTTP API (``viewCount``, ``lastViewedAt``) once Plex is up, and compared
with the settings rows in its database.

The result is plain data for the apply's counts (``readback``): ``agrees``, ``disagrees`` (with
the first few differences) or ``not_checked`` (with why). The token is the owner's (account 1,
plex-database.md §0.7): only plays written for that account are sampled, since the API shows
the token's account's counts.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from daemon.errors import PlexError
from daemon.plex.readonly import ReadOnlyDatabase
from daemon.plex.server import PlexServerProbe
from daemon.plex.timestamps import detect_timestamp_mode, epoch_sql

log = logging.getLogger(__name__)

OWNER = 1
SAMPLE = 20
AGREES, DISAGREES, NOT_CHECKED = "agrees", "disagrees", "not_checked"
SHOWN = 5  # differences kept in the result


@dataclass(frozen=True)
class ReadBack:
    status: str
    checked: int = 0
    disagreements: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def as_counts(self) -> dict[str, Any]:
        return {"readback": asdict(self)}


def sample(rating_keys: Iterable[int], size: int = SAMPLE) -> list[int]:
    """Up to ``size`` distinct keys, evenly spread over the sorted keys (deterministic)."""
    keys = sorted(set(rating_keys))
    if len(keys) <= size:
        return keys
    return [keys[i * len(keys) // size] for i in range(size)]


def database_states(database: Path, rating_keys: list[int],
                    account_id: int = OWNER) -> dict[int, tuple[int, int | None]]:
    """rating_key -> (view_count, last_viewed_at epoch) of the account's settings row (the
    lowest id, as Plex and the writer use it); (0, None) without one. Read-only."""
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        last = epoch_sql(detect_timestamp_mode(conn), "s.last_viewed_at")
        marks = ", ".join("?" * len(rating_keys))
        return conn.execute(
            f"SELECT t.id, coalesce(s.view_count, 0), {last} FROM metadata_items t "
            "LEFT JOIN metadata_item_settings s ON s.id = (SELECT min(x.id) FROM "
            "metadata_item_settings x WHERE x.guid = t.guid AND x.account_id = ?) "
            f"WHERE t.id IN ({marks})", (account_id, *rating_keys)).fetchall()

    rows = ReadOnlyDatabase(database).read(read) if rating_keys else []
    return {int(k): (int(n), None if last is None else int(last)) for k, n, last in rows}


def read_back(probe: PlexServerProbe, database: Path, rating_keys: Iterable[int], *,
              wait_seconds: float = 0.0, sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], float] = time.monotonic, poll: float = 2.0) -> ReadBack:
    """Compare Plex's API with its database for a sample of ``rating_keys`` (the owner's)."""
    keys = sample(rating_keys)
    if not keys:
        return ReadBack(NOT_CHECKED, note="no plays of the owner's account were written")
    deadline = clock() + wait_seconds
    while not probe.reachable():
        if clock() >= deadline:
            return ReadBack(NOT_CHECKED, note="Plex is not running, so it could not be asked")
        sleep(poll)
    try:
        expected = database_states(database, keys)
        shown = {key: probe.track_state(key) for key in keys}
    except PlexError as exc:
        return ReadBack(NOT_CHECKED, note=str(exc))
    differ = [{"rating_key": key, "database": list(expected.get(key, (0, None))),
               "plex": list(shown[key])} for key in keys
              if tuple(shown[key]) != expected.get(key, (0, None))]
    if differ:
        log.error("Plex disagrees with its database on %d of %d tracks read back (e.g. track "
                  "%s: database %s, Plex %s)", len(differ), len(keys), differ[0]["rating_key"],
                  differ[0]["database"], differ[0]["plex"])
        return ReadBack(DISAGREES, len(keys), len(differ), differ[:SHOWN])
    log.info("Plex shows what was written (%d tracks read back)", len(keys))
    return ReadBack(AGREES, len(keys))


def after_apply(probe: PlexServerProbe | None, database: Path,
                plays: Iterable[tuple[int, int, int, int]], *, wait_seconds: float,
                sleep: Callable[[float], None]) -> dict[str, Any]:
    """The apply job's hook: ``{"readback": ...}`` for the written plays (scrobble_id, account,
    rating_key, uts), or nothing when no server is configured."""
    if probe is None:
        return {}
    owners = (key for _, account, key, _ in plays if account == OWNER)
    return read_back(probe, database, owners, wait_seconds=wait_seconds,
                     sleep=sleep).as_counts()
