"""Request parameters of the pages and the JSON API, parsed once and bounded.

Both the HTML pages and the JSON endpoints read their filters here, so a page and its
endpoint always agree on what a query string means. A number is a whole number written in
ASCII digits (an optional sign; no exponent, fraction, `true` or superscript), or an integral JSON
number, inside its range: anything else is refused with a 400 naming the parameter (query
strings: `abort`; POST bodies: `ActionError`), never clamped, truncated or guessed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from flask import abort, request

from daemon.web import queries
from daemon.web.actions import ActionError

MAX_PAGE = 10_000
MAX_ID = 2**63 - 1  # SQLite's largest integer: ids, rating keys, Unix seconds
MAX_TEXT = 1000  # characters of a POSTed text field
_WHOLE = re.compile(r"[+-]?[0-9]{1,30}")


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
                "has_next": shown == self.per_page and self.offset + shown < total
                and self.page < MAX_PAGE,
                "pages": None if capped else max(1, -(-total // self.per_page))}


def whole_number(value: object, name: str, low: int, high: int) -> int:
    """`value` (text, or a number from JSON) as an int in [low, high]; ValueError naming
    `name` otherwise."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, "
                         f"got {value!r:.40}")
    return number


def optional_int_arg(name: str, low: int, high: int) -> int | None:
    """Integer query parameter `name` in [low, high]; None when absent or empty; 400 when
    anything else."""
    value = request.args.get(name, "")
    if not value.strip():
        return None
    try:
        return whole_number(value, name, low, high)
    except ValueError as exc:
        abort(400, description=str(exc))


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """Integer query parameter `name` in [low, high]; `default` when absent or empty; 400
    when anything else."""
    value = optional_int_arg(name, low, high)
    return default if value is None else value


def paging(default_size: int) -> Paging:
    """?page= and ?per_page= (at most 200 rows a page)."""
    return Paging(int_arg("page", 1, 1, MAX_PAGE), int_arg("per_page", default_size, 1, 200))


def text_arg(name: str, limit: int = 200) -> str:
    """Query parameter `name`, stripped and cut to `limit` characters."""
    return request.args.get(name, "").strip()[:limit]


def queue_filter() -> queries.QueueFilter:
    """The queue's filter from ?artist=, ?skipped=1 and ?after=plays.id."""
    return queries.QueueFilter(artist=text_arg("artist"),
                               skipped=request.args.get("skipped") in ("1", "true", "on"),
                               after=_after())


def _after() -> tuple[int, int] | None:
    """?after=plays.track_id (the queue's `next_after`); None when absent; 400 when malformed."""
    value = request.args.get("after", "")
    if not value:
        return None
    plays, _, track = value.partition(".")
    try:
        return (whole_number(plays, "after (plays)", 0, MAX_ID),
                whole_number(track, "after (track id)", 1, MAX_ID))
    except ValueError as exc:
        abort(400, description=f"{exc}; after must be the next_after of the previous page")


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


def body_int(data: dict[str, Any], name: str, low: int, high: int,
             default: int | None = None) -> int:
    """Integer field `name` of a POST body in [low, high]; ActionError (400) when missing or
    anything else."""
    value = data.get(name, default)
    if value is None or value == "":
        raise ActionError(f"{name} is required")
    try:
        return whole_number(value, name, low, high)
    except ValueError as exc:
        raise ActionError(str(exc)) from None


def body_text(data: dict[str, Any], name: str) -> str:
    """Text field `name` of a POST body, stripped ("" when absent); ActionError (400) when it
    is not text or longer than MAX_TEXT characters."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ActionError(f"{name} must be text, got {value!r:.40}")
    if len(value) > MAX_TEXT:
        raise ActionError(f"{name} is longer than {MAX_TEXT} characters")
    return value.strip()
