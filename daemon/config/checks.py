"""Validators and parsers of single settings: each check returns None or what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from datetime import time as dt_time
from typing import Any

Check = Callable[[Any], str | None]


def setting(
    default: Any,
    help_text: str,
    *,
    secret: bool = False,
    required: bool = False,
    check: Check | None = None,
) -> Any:
    meta = {"help": help_text, "secret": secret, "required": required, "check": check}
    return field(default=default, metadata=meta)


def between(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if not low <= value <= high:
            return f"must be between {low:g} and {high:g}, got {value!r}"
        return None

    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(choices)}, got {value!r}"
        return None

    return check


WINDOW_OFF = "off"


def window_check(value: Any) -> str | None:
    if str(value).strip().lower() == WINDOW_OFF:
        return None
    try:
        parse_window(str(value))
    except ValueError:
        return f"must look like 04:00-05:00 (local time) or be off, got {value!r}"
    return None


def parse_window(text: str) -> tuple[dt_time, dt_time]:
    """'HH:MM-HH:MM' as (start, end) local times; the window may cross midnight."""
    start, _, end = text.partition("-")
    first = dt_time.fromisoformat(start.strip())
    last = dt_time.fromisoformat(end.strip())
    if first == last:
        raise ValueError("empty window")
    return first, last


def accounts_check(value: Any) -> str | None:
    try:
        parse_accounts(str(value))
    except ValueError:
        return f"must look like 'alice:1, bob:5' (last.fm user: Plex account id), got {value!r}"
    return None


def parse_accounts(text: str) -> dict[str, int]:
    """'alice:1, bob:5' as {"alice": 1, "bob": 5} ('' is an empty mapping)."""
    mapping: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        user, _, account = part.rpartition(":")
        if not user.strip():
            raise ValueError(part)
        mapping[user.strip()] = int(account)
    return mapping


def http_url_check(value: Any) -> str | None:
    if not str(value).startswith(("http://", "https://")):
        return f"must be an http:// or https:// URL, got {value!r}"
    return None


def password_hash_check(value: Any) -> str | None:
    from daemon.web.passwords import is_password_hash  # hashlib only, no web stack

    if value and not is_password_hash(str(value)):
        return ("must be a hash made by `plexfm web-password`, not the password itself "
                "(run it and paste its output)")
    return None


def zone_check(value: Any) -> str | None:
    if not str(value).strip():
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value).strip())
    except (ZoneInfoNotFoundError, ValueError):
        return f"must be an IANA time zone such as Europe/Berlin (or empty), got {value!r}"
    return None


def aliases_check(value: Any) -> str | None:
    try:
        parse_aliases(str(value))
    except ValueError:
        return f"must look like 'hiphop=hip hop, dnb=drum and bass', got {value!r}"
    return None


def parse_aliases(text: str) -> dict[str, str]:
    """'a=b, c=d' as {"a": "b", "c": "d"} ('' is an empty mapping; a blank target ignores a)."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        tag, equals, genre = part.partition("=")
        if not equals or not tag.strip():
            raise ValueError(part)
        mapping[tag.strip()] = genre.strip()
    return mapping
