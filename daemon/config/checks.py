"""Validators and parsers of single settings: each check returns None or what is wrong."""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable
from dataclasses import field
from datetime import time as dt_time
from typing import Any
from urllib.parse import urlsplit

Check = Callable[[Any], str | None]

_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxtuple, _SHOW.maxset = 2, 3, 3, 3, 3
_SHOW.maxstring, _SHOW.maxother, _SHOW.maxlong = 50, 50, 40
_HH_MM = re.compile(r"([01]?[0-9]|2[0-3]):[0-5][0-9]", re.ASCII)
_ACCOUNT_ID = re.compile(r"[0-9]{1,10}", re.ASCII)
MAX_ACCOUNT_ID = 2**31 - 1  # Plex's accounts.id is an INTEGER primary key in 32-bit range


def show_name(value: Any) -> str:
    """A key or section name for an error message: as written when short and plain."""
    text = str(value)
    if isinstance(value, str) and len(text) <= 60 and text.isprintable():
        return text
    return show(value)


def show(value: Any) -> str:
    """A value for an error message: short, bounded however large or nested it is."""
    return _SHOW.repr(value)


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
            return f"must be between {low:g} and {high:g}, got {show(value)}"
        return None

    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(choices)}, got {show(value)}"
        return None

    return check


WINDOW_OFF = "off"


def window_check(value: Any) -> str | None:
    if str(value).strip().lower() == WINDOW_OFF:
        return None
    try:
        parse_window(str(value))
    except ValueError:
        return f"must look like 04:00-05:00 (local time) or be off, got {show(value)}"
    return None


def parse_window(text: str) -> tuple[dt_time, dt_time]:
    """'HH:MM-HH:MM' as (start, end) local times; the window may cross midnight."""
    start, _, end = text.partition("-")
    if not (_HH_MM.fullmatch(start.strip()) and _HH_MM.fullmatch(end.strip())):
        raise ValueError("not HH:MM-HH:MM")
    first = dt_time.fromisoformat(start.strip().zfill(5))
    last = dt_time.fromisoformat(end.strip().zfill(5))
    if first == last:
        raise ValueError("empty window")
    return first, last


def accounts_check(value: Any) -> str | None:
    try:
        parse_accounts(str(value))
    except ValueError:
        return f"must look like 'alice:1, bob:5' (last.fm user: Plex account id), got {show(value)}"
    return None


def parse_accounts(text: str) -> dict[str, int]:
    """'alice:1, bob:5' as {"alice": 1, "bob": 5} ('' is an empty mapping)."""
    mapping: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        user, _, account = part.rpartition(":")
        if not user.strip() or not _ACCOUNT_ID.fullmatch(account.strip()):
            raise ValueError(part)
        if user.strip() in mapping or not 1 <= int(account) <= MAX_ACCOUNT_ID:
            raise ValueError(part)
        mapping[user.strip()] = int(account)
    return mapping


def http_url_check(value: Any) -> str | None:
    text = str(value)
    problem = f"must be an http:// or https:// URL with a host, got {show(value)}"
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        return problem
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError when out of range
    except ValueError:
        return problem
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return problem
    del port
    return None


def optional_http_url_check(value: Any) -> str | None:
    return None if str(value) == "" else http_url_check(value)


def token_check(value: Any) -> str | None:
    """A key or token: no spaces or control characters (a paste error); never shown."""
    text = str(value)
    if text and (not text.strip() or any(c.isspace() or not c.isprintable() for c in text)):
        return "must not contain spaces or line breaks (value not shown: it is a secret)"
    return None


def name_check(value: Any) -> str | None:
    if str(value) and not str(value).strip():
        return "must not be blank"
    return None


def sqlite_url_check(value: Any) -> str | None:
    """plexfm's store is SQLite (WAL, FTS5, JSON functions): other databases are refused."""
    text = str(value)
    if not text:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except ArgumentError:
        return f"must be an SQLAlchemy URL such as sqlite:////path/plexfm.db, got {show(value)}"
    if url.get_backend_name() != "sqlite":
        return (f"only SQLite stores are supported (sqlite:///PATH), got a "
                f"{show(url.get_backend_name())} URL")
    return None


def password_hash_check(value: Any) -> str | None:
    from daemon.web.passwords import is_password_hash  # hashlib only, no web stack

    if str(value) != "" and not is_password_hash(str(value)):
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
        return f"must be an IANA time zone such as Europe/Berlin (or empty), got {show(value)}"
    return None


def aliases_check(value: Any) -> str | None:
    try:
        parse_aliases(str(value))
    except ValueError:
        return f"must look like 'hiphop=hip hop, dnb=drum and bass', got {show(value)}"
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
