"""The JSON API behind every page, and every state change (POST, CSRF-checked).

GET endpoints return what the matching page shows. POST endpoints record decisions in the
store only (never in Plex) and answer JSON, or, for a plain HTML form (no JavaScript), redirect
back to the page with a message. docs/api.md documents each endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, flash, jsonify, redirect, request

from daemon.web import bulk, csrf, dashboard, history, params, queries
from daemon.web.actions import ActionError, Actions, Outcome
from daemon.web.redirects import safe_next

bp = Blueprint("api", __name__, url_prefix="/api")
TRACK = f"<int(max={params.MAX_ID}):track_id>"  # a larger id is no track: 404, no query


def deps() -> Any:
    """The WebDeps this app was created with."""
    return current_app.extensions["plexfm"]


def actions() -> Actions:
    """The app's Actions (decisions and job triggers)."""
    found: Actions = current_app.extensions["plexfm.actions"]
    return found


def read_store(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(conn, *args, **kwargs)` in one read transaction (one snapshot); its result."""
    with deps().engine.connect() as conn, conn.begin():
        return fn(conn, *args, **kwargs)


def dashboard_data() -> dict[str, Any]:
    """The Dashboard's data (see web/dashboard.py)."""
    d = deps()
    data: dict[str, Any] = read_store(
        dashboard.dashboard, users=d.users, jobs=d.jobs, next_runs=d.next_runs,
        running=d.running, window=d.window, now=datetime.now().astimezone(),
        on_demand=d.on_demand, unlogged=d.unlogged)
    if data["counting"]:
        d.stats_changed()  # e.g. the CLI ran a job: nobody asked the service to recount
    return data


def queue_data() -> dict[str, Any]:
    """One page of the queue with paging fields and the next page's `after` cursor."""
    paging = params.paging(25)
    rows, total, count = read_store(queries.queue, params.queue_filter(),
                                    now=int(time.time()), limit=paging.per_page,
                                    offset=paging.offset)
    info = paging.info(total, len(rows))
    last = rows[-1] if rows and info["has_next"] else None
    return {"items": rows, **info, "waiting": count.waiting, "skipped": count.skipped,
            "next_after": f"{last['plays']}.{last['track_id']}" if last else None}


def matches_data() -> dict[str, Any]:
    """One page of decided tracks for the request's filters, with paging fields."""
    paging = params.paging(50)
    rows, total = read_store(queries.match_list, params.match_filter(),
                             limit=paging.per_page, offset=paging.offset)
    return {"items": rows, **paging.info(total, len(rows))}


def library_data() -> dict[str, Any]:
    """One page of library tracks with plexfm plays, with paging fields."""
    paging = params.paging(50)
    def read(conn: Any) -> tuple[list[dict[str, Any]], int, bool]:
        rows, total = queries.library_list(conn, **params.library_args(),
                                           limit=paging.per_page, offset=paging.offset)
        return rows, total, queries.plays_counted(conn)

    rows, total, counted = read_store(read)
    return {"items": rows, **paging.info(total, len(rows)), "plays_counted": counted}


def history_data() -> dict[str, Any]:
    """Recent scrobbles (older than ?before=) and the apply log."""
    before = params.optional_int_arg("before", 0, params.MAX_ID)
    limit = params.int_arg("limit", 50, 1, 200)

    def read(conn: Any) -> dict[str, Any]:
        scrobbles = history.recent_scrobbles(conn, deps().users, before=before, limit=limit)
        return {"scrobbles": scrobbles, "apply_runs": history.apply_runs(conn),
                "apply_batches": history.apply_batches(conn),
                "next_before": scrobbles[-1]["uts"] if len(scrobbles) == limit else None}

    data: dict[str, Any] = read_store(read)
    return data


@bp.get("/dashboard")
def get_dashboard() -> Response:
    """GET /api/dashboard."""
    return jsonify(dashboard_data())


@bp.get("/queue")
def get_queue() -> Response:
    """GET /api/queue."""
    return jsonify(queue_data())


@bp.get("/queue/bulk-preview")
def bulk_preview() -> Response:
    """How many tracks a bulk accept with this min_score (and artist) would decide, by
    reason, and how many it leaves for a person (another recording, or not sure), by why."""
    score = params.int_arg("min_score", 90, 0, 100)
    found = read_store(bulk.plan, score, params.text_arg("artist"))
    return jsonify(min_score=score, tracks=len(found.pairs), by_reason=found.by_reason,
                   excluded=found.excluded)


@bp.get("/matches")
def get_matches() -> Response:
    """GET /api/matches."""
    return jsonify(matches_data())


@bp.get("/library")
def get_library() -> Response:
    """GET /api/library."""
    return jsonify(library_data())


@bp.get("/library/search")
def search() -> Response:
    """Library tracks matching ?q= (words are prefixes; artist, title and album)."""
    limit = params.int_arg("limit", 20, 1, 50)
    return jsonify(items=read_store(queries.search_library, params.text_arg("q"), limit))


@bp.get("/history")
def get_history() -> Response:
    """GET /api/history."""
    return jsonify(history_data())


@bp.get("/csrf")
def get_csrf() -> Response:
    """This session's CSRF token, for scripts (keep the session cookie it sets)."""
    return jsonify(csrf_token=csrf.token())


def _answer(do: Callable[[], Outcome]) -> Any:
    """Run an action; JSON for scripts and the page's JavaScript, a redirect for forms."""
    wants_json = request.is_json or request.accept_mimetypes.best == "application/json"
    back = safe_next(request.form.get("next") or request.args.get("next"))
    try:
        outcome = do()
    except ActionError as exc:
        if wants_json:
            response = jsonify(ok=False, error=str(exc))
            response.status_code = exc.status
            return response
        flash(str(exc), "error")
        return redirect(back, 303)
    if wants_json:
        return jsonify(ok=True, message=outcome.message, **outcome.counts)
    flash(outcome.message, "ok")
    return redirect(back, 303)


@bp.post(f"/tracks/{TRACK}/accept")
def accept(track_id: int) -> Any:
    """Match the track to the POSTed rating_key."""
    return _answer(lambda: actions().accept(
        track_id, params.body_int(params.body(), "rating_key", 1, params.MAX_ID)))


@bp.post(f"/tracks/{TRACK}/not-in-library")
def not_in_library(track_id: int) -> Any:
    """Mark the track as not in the library."""
    return _answer(lambda: actions().not_in_library(track_id))


@bp.post(f"/tracks/{TRACK}/skip")
def skip(track_id: int) -> Any:
    """Hide the track from the queue for `days` (default 7)."""
    return _answer(lambda: actions().skip(
        track_id, params.body_int(params.body(), "days", 1, 3650, default=7)))


@bp.post(f"/tracks/{TRACK}/unskip")
def unskip(track_id: int) -> Any:
    """Put a skipped track back in the queue."""
    return _answer(lambda: actions().unskip(track_id))


@bp.post(f"/tracks/{TRACK}/requeue")
def requeue(track_id: int) -> Any:
    """Remove the track's match: back to the queue."""
    return _answer(lambda: actions().requeue(track_id))


@bp.post(f"/tracks/{TRACK}/undo")
def undo(track_id: int) -> Any:
    """Forget the user's decision; the match job decides again."""
    return _answer(lambda: actions().undo(track_id))


@bp.post("/queue/bulk-accept")
def bulk_accept() -> Any:
    """Accept every top suggestion scoring at least `min_score` (optionally of `artist`)."""
    def do() -> Outcome:
        data = params.body()
        return actions().bulk_accept(params.body_int(data, "min_score", 0, 100),
                                     params.body_text(data, "artist"))
    return _answer(do)


@bp.post("/queue/bulk-not-in-library")
def bulk_not_in_library() -> Any:
    """Mark every queued track of `artist` as not in the library."""
    return _answer(lambda: actions().bulk_not_in_library(
        params.body_text(params.body(), "artist")))


@bp.post("/jobs/<name>/run")
def run_job(name: str) -> Any:
    """Run the job `name` now."""
    return _answer(lambda: actions().run_job(name))


@bp.post("/apply")
def apply_at_window() -> Any:
    """Apply now if the window is open, else say when the next window writes."""
    return _answer(lambda: actions().apply_at_window())
