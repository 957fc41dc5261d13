"""The status page's HTML views: Dashboard, Queue, Matches, Library, History.

Each view renders the same data as its JSON endpoint (web/api.py), readable without
JavaScript; forms POST to the API, which redirects back here. Templates autoescape every value
(track names are user data).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, render_template, request

from daemon.logs import plural
from daemon.web import api, params, queries

bp = Blueprint("pages", __name__)

NAV = (("pages.dashboard", "Dashboard"), ("pages.queue", "Queue"),
       ("pages.matches", "Matches"), ("pages.library", "Library"), ("pages.history", "History"),
       ("analytics.page", "Analytics"))
STATUS_LABELS = {"auto": "auto", "manual": "manual", "not_in_library": "not in library",
                 "queued": "queued", None: "undecided"}


def when(ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Unix seconds as local time; an en dash when unknown."""
    if ts is None:
        return "\N{EN DASH}"
    return datetime.fromtimestamp(float(ts)).astimezone().strftime(fmt)


def ago(ts: float | None) -> str:
    """Unix seconds as "5 min ago" / "in 2 h"."""
    if ts is None:
        return "never"
    delta = float(ts) - time.time()
    future, seconds = delta > 0, abs(delta)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{seconds / size:.0f} {unit}"
            break
    else:
        text = f"{seconds:.0f} s"
    return f"in {text}" if future else f"{text} ago"


def num(value: Any) -> str:
    """An integer with thousands separators; an en dash when unknown."""
    return "\N{EN DASH}" if value is None else f"{int(value):,}"


def page_url(**changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    args = {k: v for k, v in request.args.items()}
    for key, value in changes.items():
        if not value:  # None, "", or a template's undefined value
            args.pop(key, None)
        else:
            args[key] = str(value)
    query = urlencode(args)
    return request.path + (f"?{query}" if query else "")


def here() -> str:
    """This page's path and query (where a form sends the browser back to)."""
    return request.full_path.rstrip("?")


@bp.record_once
def helpers(state: Any) -> None:
    """Template globals (visible in imported macros too)."""
    state.app.jinja_env.globals.update(
        nav=NAV, when=when, ago=ago, num=num, page_url=page_url, status_label=STATUS_LABELS,
        here=here, plural=plural)


@bp.get("/")
def dashboard() -> str:
    """The Dashboard page."""
    return render_template("dashboard.html", d=api.dashboard_data())


@bp.get("/queue")
def queue() -> str:
    """The Queue page (with library search results for one track without JavaScript)."""
    data = api.queue_data()
    search_for = params.optional_int_arg("search_for", 1, params.MAX_ID)
    lq = params.text_arg("lq")
    found = api.read_store(queries.search_library, lq, 20) if search_for and lq else []
    return render_template("queue.html", data=data, f=params.queue_filter(),
                           search_for=search_for, lq=lq, found=found,
                           floor=queries.SUGGESTION_FLOOR, strong=queries.STRONG_SCORE)


@bp.get("/matches")
def matches() -> str:
    """The Matches page (with library search results to change one match)."""
    data = api.matches_data()
    change = params.optional_int_arg("change", 1, params.MAX_ID)
    lq = params.text_arg("lq")
    found = api.read_store(queries.search_library, lq, 20) if change and lq else []
    return render_template("matches.html", data=data, f=params.match_filter(), change=change,
                           lq=lq, found=found, statuses=queries.STATUS_FILTERS,
                           sorts=list(queries.MATCH_SORTS))


@bp.get("/library")
def library() -> str:
    """The Library page."""
    return render_template("library.html", data=api.library_data(), a=params.library_args())


@bp.get("/history")
def history() -> str:
    """The History page."""
    return render_template("history.html", data=api.history_data())
