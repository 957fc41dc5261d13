"""The History page's data: recent scrobbles with their match, and the log of apply runs."""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from daemon.web.queries import library_tracks


def _recent_ids(conn: Connection, users: Sequence[str], before: int | None,
                limit: int) -> list[dict[str, Any]]:
    bound = before if before is not None else 2**62
    if not users:  # no configured users (tests): newest stored first
        rows = conn.exec_driver_sql(
            "SELECT id, user, uts, artist, title, album FROM scrobbles WHERE uts < ?"
            " ORDER BY id DESC LIMIT ?", (bound, limit)).mappings()
        return [dict(r) for r in rows]
    per_user = [
        [dict(r) for r in conn.exec_driver_sql(
            "SELECT id, user, uts, artist, title, album FROM scrobbles WHERE user = ?"
            " AND uts < ? ORDER BY uts DESC LIMIT ?", (user, bound, limit)).mappings()]
        for user in users  # each walks the (user, uts, ...) index backwards
    ]
    merged = heapq.merge(*per_user, key=lambda r: -int(r["uts"]))
    return [row for _, row in zip(range(limit), merged, strict=False)]


def recent_scrobbles(conn: Connection, users: Sequence[str], *, before: int | None = None,
                     limit: int = 50) -> list[dict[str, Any]]:
    """The newest scrobbles (older than `before` when given), each with its track's decision,
    library track, and whether its play was written to Plex or was already there."""
    rows = _recent_ids(conn, users, before, limit)
    if not rows:
        return rows
    decided: dict[tuple[str, str, str], dict[str, Any]] = {}
    for identity in {(r["artist"], r["title"], r["album"]) for r in rows}:
        hit = conn.exec_driver_sql(  # one lookup in the identity index each (<= limit)
            "SELECT t.id, m.status, m.rating_key FROM scrobbled_tracks t LEFT JOIN matches m"
            " ON m.track_id = t.id WHERE t.artist = ? AND t.title = ? AND t.album = ?",
            identity).first()
        if hit is not None:
            decided[identity] = {"track_id": hit[0], "status": hit[1], "rating_key": hit[2]}
    ids = [int(r["id"]) for r in rows]
    marks = ", ".join("?" for _ in ids)
    written = {int(i) for (i,) in conn.exec_driver_sql(
        f"SELECT scrobble_id FROM applied_plays WHERE scrobble_id IN ({marks})", tuple(ids))}
    already = {int(i) for (i,) in conn.exec_driver_sql(
        f"SELECT scrobble_id FROM plays_in_plex WHERE scrobble_id IN ({marks})", tuple(ids))}
    found = library_tracks(conn, (d["rating_key"] for d in decided.values()
                                  if d["rating_key"] is not None))
    for row in rows:
        match = decided.get((row["artist"], row["title"], row["album"]), {})
        row["track_id"] = match.get("track_id")
        row["status"] = match.get("status")
        key = match.get("rating_key")
        row["rating_key"] = key
        row["track"] = found.get(key) if key is not None else None
        row["in_plex"] = ("written" if row["id"] in written else
                          "already there" if row["id"] in already else None)
    return rows


def apply_runs(conn: Connection, limit: int = 30) -> list[dict[str, Any]]:
    """The newest runs of the apply (and revert) job: written, reverted, already in Plex,
    skipped with its reason, or the error."""
    rows = conn.exec_driver_sql(
        "SELECT id, job, trigger, started_at, finished_at, outcome, counts, error FROM job_runs"
        " WHERE job IN ('apply', 'revert') ORDER BY id DESC LIMIT ?", (limit,)).mappings()
    out = []
    for r in rows:
        counts = json.loads(r["counts"] or "{}")
        out.append({**dict(r), "counts": counts, "written": counts.get("added"),
                    "reverted": counts.get("removed"),
                    "already_in_plex": counts.get("already_in_plex"),
                    "skipped": counts.get("skipped"), "mode": counts.get("mode")})
    return out


def apply_batches(conn: Connection, limit: int = 30) -> list[dict[str, Any]]:
    """The newest write transactions into Plex (one per apply, or per live batch)."""
    rows = conn.exec_driver_sql(
        "SELECT id, started_at, finished_at, mode, state, added, removed, already_in_plex,"
        " note FROM apply_batches ORDER BY id DESC LIMIT ?", (limit,)).mappings()
    return [dict(r) for r in rows]
