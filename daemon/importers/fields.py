"""Checks of single fields, the same in every format: a field that fails makes its row a
problem (RowError), never the whole file.

Every string field goes through `text` or `opt`: at most MAX_FIELD_CHARS characters and no
NUL character, wherever in the file the row is. Every timestamp goes through `uts`: the one
rule of every source, 0 < uts <= now + 1 day (`daemon.scrobble.uts_in_range`).
"""

from __future__ import annotations

import msgspec

from daemon.importers.limits import MAX_FIELD_CHARS
from daemon.importers.report import RowError
from daemon.scrobble import UNDATED, uts_in_range

_DECODE = msgspec.json.Decoder()


def json_line(text: str) -> object:
    """One line of a JSON-lines file, decoded; a line that is no JSON is its row's problem."""
    try:
        return _DECODE.decode(text)
    except msgspec.DecodeError as exc:
        raise RowError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise RowError("invalid JSON: nested too deeply") from None


def show(value: object) -> str:
    """A short printable form of a bad value for a problem's reason."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _checked(value: str, name: str) -> str:
    if len(value) > MAX_FIELD_CHARS:
        raise RowError(f"{name} is longer than {MAX_FIELD_CHARS} characters ({len(value):,})")
    if "\x00" in value:
        raise RowError(f"{name} holds a NUL character")
    return value


def text(value: object, name: str) -> str:
    """A required string: present, not blank, within the caps."""
    if not isinstance(value, str) or not value or value.isspace():
        raise RowError(f"{name} is missing")
    return _checked(value, name)


def opt(value: object, name: str) -> str:
    """An optional string ("" when absent or not a string), within the caps."""
    return _checked(value, name) if isinstance(value, str) else ""


def number(value: object, name: str) -> int:
    """An integer from a number or a numeric string (floats are truncated)."""
    if value is None or value == "":
        raise RowError(f"{name} is missing")
    try:
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return int(float(value))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    except (TypeError, ValueError, OverflowError):
        pass
    raise RowError(f"{name} is not a number: {show(value)}")


def check_uts(uts: int, name: str, now: float, *, undated_ok: bool = False) -> int:
    """`uts` if it passes the timestamp rule, else the reason it does not. `undated_ok`
    accepts 0 as well: last.fm's own exports carry its oldest ("legacy") scrobbles with
    uts 0; they are history, stored as undated plays (counted apart by the analytics, never
    written into Plex), as the last.fm pull stores them (`daemon.scrobble.storable`)."""
    if uts_in_range(uts, now) or (undated_ok and uts == UNDATED):
        return uts
    if uts <= 0:
        raise RowError(f"{name} is negative or zero: {uts}")
    raise RowError(f"{name} is more than a day in the future (milliseconds?): {uts}")


def uts(value: object, name: str, now: float, *, undated_ok: bool = False) -> int:
    """Unix seconds from a number or numeric string, checked against the timestamp rule."""
    return check_uts(number(value, name), name, now, undated_ok=undated_ok)


def key(obj: object, name: str) -> object:
    """`obj[name]` when `obj` is a JSON object, else None."""
    return obj.get(name) if isinstance(obj, dict) else None


def first_mbid(value: object, name: str) -> str:
    """The first of a list of MBIDs, or the MBID itself."""
    if isinstance(value, list):
        return opt(value[0], name) if value else ""
    return opt(value, name)
