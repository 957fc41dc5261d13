"""Match decisions per scrobbled track, with every change kept in match_history.

Statuses: auto (an exact match the rules made), manual (the user chose a track),
not_in_library (the user said so), queued (waiting, with a reason and suggestions). Manual and
not_in_library decisions are the user's: re-matching never overrides them, except that a track
marked not_in_library is matched again when an exact match appears in the library.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection

AUTO, MANUAL, NOT_IN_LIBRARY, QUEUED = "auto", "manual", "not_in_library", "queued"
STATUSES = (AUTO, MANUAL, NOT_IN_LIBRARY, QUEUED)
USER_STATUSES = (MANUAL, NOT_IN_LIBRARY)
SKIP_DAYS = 7  # "skip for now" hides a queued track this long (the page and plexfm resolve)


class Decision(NamedTuple):
    """What the matcher decided for one track (a NamedTuple: 100,000 frozen dataclasses cost
    ~0.15 s more to build)."""

    track_id: int
    status: str
    rating_key: int | None
    rule: str | None = None
    reason: str | None = None
    alternatives: tuple[int, ...] = ()
    suggestions: tuple[tuple[int, int], ...] = ()


def current(conn: Connection, track_ids: Iterable[int]) -> dict[int, tuple[str, int | None]]:
    """(status, rating_key) of tracks that have a decision."""
    ids = list(track_ids)
    found: dict[int, tuple[str, int | None]] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        marks = ", ".join("?" for _ in chunk)
        rows = conn.exec_driver_sql(
            f"SELECT track_id, status, rating_key FROM matches WHERE track_id IN ({marks})",
            tuple(chunk),
        )
        found.update({int(t): (s, k) for t, s, k in rows})
    return found


STAGE_ROWS = 50_000
"""Decisions per staged JSON text: SQLite parses a whole text at once (~10 times its ~60 bytes
per decision), so a user with a million distinct tracks stages twenty texts, not one."""


class StagedDecisions(NamedTuple):
    """Decisions as JSON texts (`stage_decisions`), for `save_staged` to write in SQL.

    Built where the decisions are made (the match job's helper thread): writing them is then
    two statements per text that run without Python's global lock, not a bound row per
    decision. Each text is a JSON array of [track_id, status, rating_key, rule, reason,
    alternatives, suggestions], the lists as the text stored."""

    texts: tuple[str, ...]
    size: int  # how many decisions


def stage_decisions(decisions: Iterable[Decision]) -> StagedDecisions:
    """The decisions as `save_staged` reads them (their lists as the text stored)."""
    rows = list(decisions)
    return stage_columns(*zip(*rows, strict=True)) if rows else StagedDecisions((), 0)


def stage_columns(*columns: Iterable[Any]) -> StagedDecisions:
    """`stage_decisions` for decisions given as columns, one per field of `Decision` in its
    order (the match job has them so: no `Decision` per track)."""
    track_id, status, rating_key, rule, reason, alternatives, suggestions = columns
    rows = list(zip(track_id, status, rating_key, rule, reason, map(_int_list, alternatives),
                    map(_pair_list, suggestions), strict=True))
    texts = (json.dumps(rows[at : at + STAGE_ROWS], default=int)
             for at in range(0, len(rows), STAGE_ROWS))
    return StagedDecisions(tuple(texts), len(rows))


def save_decisions(conn: Connection, decisions: Iterable[Decision], origin: str) -> dict[str, int]:
    """Store the matcher's decisions, leaving the user's own decisions alone; count changes.

    A not_in_library track is re-checked: an automatic match replaces it, a queue entry doesn't.
    """
    return save_staged(conn, stage_decisions(decisions), origin)


# A decision the matcher may not replace: the user's match, or the user's "not in my library"
# unless the matcher now has an automatic match (`old` the stored row, `new` the decision).
_KEPT = (f"({{old}}.status IS '{MANUAL}' OR ({{old}}.status IS '{NOT_IN_LIBRARY}'"
         f" AND {{new}} IS NOT '{AUTO}'))")
_STAGED = ("SELECT json_extract(value, '$[0]') AS track_id, json_extract(value, '$[1]') AS status,"
           " json_extract(value, '$[2]') AS rating_key, json_extract(value, '$[3]') AS rule,"
           " json_extract(value, '$[4]') AS reason, json_extract(value, '$[5]') AS alternatives,"
           " json_extract(value, '$[6]') AS suggestions FROM json_each(:rows)")
_SAVE_HISTORY = f"""
INSERT INTO match_history (track_id, at, origin, old_status, old_rating_key, new_status,
    new_rating_key)
SELECT d.track_id, :now, :origin, m.status, m.rating_key, d.status, d.rating_key
FROM ({_STAGED}) d LEFT JOIN matches m ON m.track_id = d.track_id
WHERE NOT {_KEPT.format(old="m", new="d.status")}
    AND (m.status IS NOT d.status OR m.rating_key IS NOT d.rating_key)
"""
_SAVE_MATCHES = f"""
INSERT INTO matches (track_id, status, rating_key, rule, reason, alternatives, suggestions,
    decided_at)
SELECT track_id, status, rating_key, rule, reason, alternatives, suggestions, :now
FROM ({_STAGED}) WHERE true
ON CONFLICT (track_id) DO UPDATE SET status = excluded.status,
    rating_key = excluded.rating_key, rule = excluded.rule, reason = excluded.reason,
    alternatives = excluded.alternatives, suggestions = excluded.suggestions,
    decided_at = excluded.decided_at, note = NULL
WHERE NOT {_KEPT.format(old="matches", new="excluded.status")}
"""


def save_staged(conn: Connection, staged: StagedDecisions, origin: str) -> dict[str, int]:
    """`save_decisions` for staged decisions: a history row for each change (read before the
    write), then the decisions, each user decision kept."""
    now, changed, saved = int(time.time()), 0, 0
    for text in staged.texts:
        params = {"rows": text, "now": now, "origin": origin}
        changed += conn.exec_driver_sql(_SAVE_HISTORY, params).rowcount
        saved += conn.exec_driver_sql(_SAVE_MATCHES, params).rowcount
    return {"saved": saved, "changed": changed, "kept_user_decisions": staged.size - saved}


def _int_list(keys: Sequence[int]) -> str:
    """json.dumps(list(keys)) of ints, written directly (100,000 decisions: ~0.3 s less)."""
    if len(keys) == 1:  # most tracks: the one candidate
        return f"[{int(keys[0])}]"
    return "[" + ", ".join(map(str, map(int, keys))) + "]"


def _pair_list(pairs: Iterable[tuple[int, int]]) -> str:
    """json.dumps([list(p) for p in pairs]) of int pairs, written directly."""
    if not pairs:  # every automatic match
        return "[]"
    return "[" + ", ".join(f"[{int(a)}, {int(b)}]" for a, b in pairs) + "]"


def _history(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(
            "INSERT INTO match_history (track_id, at, origin, old_status, old_rating_key,"
            " new_status, new_rating_key) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )


def decide(conn: Connection, track_id: int, status: str, rating_key: int | None) -> None:
    """Record the user's decision (manual or not_in_library) for one track."""
    if status not in USER_STATUSES:
        raise ValueError(f"not a user decision: {status}")
    old_status, old_key = current(conn, [track_id]).get(track_id, (None, None))
    now = int(time.time())
    conn.exec_driver_sql(
        "INSERT INTO matches (track_id, status, rating_key, rule, reason, decided_at)"
        " VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (track_id) DO UPDATE SET status ="
        " excluded.status, rating_key = excluded.rating_key, rule = excluded.rule,"
        " reason = NULL, decided_at = excluded.decided_at",
        (track_id, status, rating_key, status, now),
    )
    _history(conn, [(track_id, now, "user", old_status, old_key, status, rating_key)])


def requeue(conn: Connection, track_id: int, reason: str, origin: str = "library") -> None:
    """Send a decided track back to the queue with `reason` (its match is no longer valid)."""
    old_status, old_key = current(conn, [track_id]).get(track_id, (None, None))
    now = int(time.time())
    conn.exec_driver_sql(
        "UPDATE matches SET status = ?, rating_key = NULL, rule = NULL, reason = ?,"
        " decided_at = ? WHERE track_id = ?", (QUEUED, reason, now, track_id)
    )
    _history(conn, [(track_id, now, origin, old_status, old_key, QUEUED, None)])


def decide_many(conn: Connection, decisions: Iterable[tuple[int, str, int | None]]) -> int:
    """Record many user decisions (track_id, status, rating_key) at once; return how many.

    The bulk form of `decide` (one history row each), for the status page's bulk actions.
    """
    rows = list(decisions)
    if any(status not in USER_STATUSES for _t, status, _k in rows):
        raise ValueError("not a user decision")
    if not rows:
        return 0
    before = current(conn, (t for t, _s, _k in rows))
    now = int(time.time())
    conn.exec_driver_sql(
        "INSERT INTO matches (track_id, status, rating_key, rule, reason, decided_at)"
        " VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (track_id) DO UPDATE SET status ="
        " excluded.status, rating_key = excluded.rating_key, rule = excluded.rule,"
        " reason = NULL, decided_at = excluded.decided_at",
        [(t, s, k, s, now) for t, s, k in rows],
    )
    _history(conn, [(t, now, "user", *before.get(t, (None, None)), s, k) for t, s, k in rows])
    return len(rows)


def skip(conn: Connection, track_ids: Iterable[int], until: int) -> int:
    """Hide queued tracks from the queue until `until` (Unix time); return how many.

    Not a decision: the match and its history are untouched, so re-matching and applying
    ignore it; the track simply comes back to the queue afterwards.
    """
    now = int(time.time())
    rows = [(int(t), int(until), now) for t in track_ids]
    if rows:
        conn.exec_driver_sql(
            "INSERT INTO queue_skips (track_id, until, at) VALUES (?, ?, ?) ON CONFLICT"
            " (track_id) DO UPDATE SET until = excluded.until, at = excluded.at", rows)
    return len(rows)


def unskip(conn: Connection, track_ids: Iterable[int]) -> None:
    """Show skipped tracks in the queue again."""
    rows = [(int(t),) for t in track_ids]
    if rows:
        conn.exec_driver_sql("DELETE FROM queue_skips WHERE track_id = ?", rows)


def undo(conn: Connection, track_id: int) -> tuple[str, int | None] | None:
    """Forget the track's decision (the next match run decides again); return what it was."""
    old = current(conn, [track_id]).get(track_id)
    if old is None:
        return None
    conn.exec_driver_sql("DELETE FROM matches WHERE track_id = ?", (track_id,))
    _history(conn, [(track_id, int(time.time()), "undo", old[0], old[1], "undecided", None)])
    return old


def status_counts(conn: Connection) -> dict[str, int]:
    """Tracks per status (every status present, 0 when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in conn.exec_driver_sql("SELECT status, count(*) FROM matches GROUP BY status"):
        counts[str(status)] = int(n)
    return counts


def listing(conn: Connection) -> Iterator[dict[str, Any]]:
    """Every scrobbled track with its decision, most played first (for `plexfm matches`)."""
    rows = conn.exec_driver_sql(
        "SELECT t.artist, t.title, t.album, t.plays, m.status, m.rating_key, m.reason,"
        " m.suggestions, m.rule, t.id FROM scrobbled_tracks t LEFT JOIN matches m"
        " ON m.track_id = t.id ORDER BY t.plays DESC, t.id"
    )
    for artist, title, album, plays, status, key, reason, suggestions, rule, track_id in rows:
        yield {
            "artist": artist, "title": title, "album": album, "plays": int(plays),
            "status": status or QUEUED, "rating_key": key,
            "reason": reason if status in (QUEUED, None) else None,
            "suggestions": [{"rating_key": k, "score": s}
                            for k, s in json.loads(suggestions or "[]")],
            "rule": rule, "track_id": int(track_id),
        }


def find_track(conn: Connection, artist: str, title: str, album: str) -> int | None:
    """The id of a scrobbled track by its raw identity."""
    value = conn.exec_driver_sql(
        "SELECT id FROM scrobbled_tracks WHERE artist = ? AND title = ? AND album = ?",
        (artist, title, album),
    ).scalar()
    return None if value is None else int(value)
