"""Request parameters of the pages and the JSON API, parsed once and bounded.

Both the HTML pages and the JSON endpoints read their filters here, so a page and its
endpoint always agree on what a query string means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request

from daemon.web import queries
from daemon.web.actions import ActionError

MAX_PAGE = 10_000


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def info(self, total: int, shown: int) -> dict[str, Any]:
        """Page numbers for templates and JSON: page, per_page, total, capped, has_next."""
        capped = total > queries.COUNT_CAP
        return {"page": self.page, "per_page": self.per_page,
                "total": min(total, queries.COUNT_CAP), "capped": capped,
                "has_prev": self.page > 1,
                "has_next": shown == self.per_page and self.offset + shown < total,
                "pages": None if capped else max(1, -(-total // self.per_page))}


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """Integer query parameter `name`, clamped to [low, high]; `default` when absent or bad."""
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        return default
    return max(low, min(high, value))


def paging(default_size: int) -> Paging:
    """?page= and ?per_page= (at most 200 rows a page)."""
    return Paging(int_arg("page", 1, 1, MAX_PAGE), int_arg("per_page", default_size, 1, 200))


def text_arg(name: str, limit: int = 200) -> str:
    """Query parameter `name`, stripped and cut to `limit` characters."""
    return request.args.get(name, "").strip()[:limit]


def queue_filter() -> queries.QueueFilter:
    """The queue's filter from ?artist=, ?skipped=1 and ?after=plays.id."""
    plays, _, track = request.args.get("after", "").partition(".")
    after = (int(plays), int(track)) if plays.isdigit() and track.isdigit() else None
    return queries.QueueFilter(artist=text_arg("artist"),
                               skipped=request.args.get("skipped") in ("1", "true", "on"),
                               after=after)


def match_filter() -> queries.MatchFilter:
    """The Matches filter from the query string (unknown values fall back to defaults)."""
    status = request.args.get("status", queries.MATCHED)
    origin = request.args.get("origin", "")
    sort = request.args.get("sort", "plays")
    return queries.MatchFilter(
        status=status if status in queries.STATUS_FILTERS else queries.MATCHED,
        origin=origin if origin in queries.ORIGINS else "",
        artist=text_arg("artist"), album=text_arg("album"), text=text_arg("q"),
        sort=sort if sort in queries.MATCH_SORTS else "plays",
    )


def library_args() -> dict[str, Any]:
    """The Library page's text, sort and unplayed arguments."""
    sort = request.args.get("sort", "plays")
    return {"text": text_arg("q"), "sort": sort if sort in queries.LIBRARY_SORTS else "plays",
            "unplayed": request.args.get("unplayed") in ("1", "true", "on")}


def body() -> dict[str, Any]:
    """The POSTed fields: a JSON object, or the form."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ActionError("the body must be a JSON object")
        return data
    return request.form.to_dict()


def body_int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    """Integer field `name` of a POST body; ActionError when missing or not a number."""
    value = data.get(name, default)
    if value is None or value == "":
        raise ActionError(f"{name} is required")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ActionError(f"{name} must be a whole number, got {value!r}") from None
