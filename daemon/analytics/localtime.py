"""UTC seconds -> the listener's local day, hour, weekday and month; seasons. Pure.

Days are integers yyyymmdd and months yyyymm (they sort and compare like dates). Local time
comes from zoneinfo, so daylight saving time is right on both transition days: on a
spring-forward day hour 2 does not exist in Europe/Berlin, on a fall-back day it happens twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pandas as pd

log = logging.getLogger(__name__)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SEASONS = ("winter", "spring", "summer", "autumn")
_NORTH = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
          6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}
_SOUTH_OF = {"winter": "summer", "spring": "autumn", "summer": "winter", "autumn": "spring"}

Ints = npt.NDArray[np.int64]


def system_zone() -> ZoneInfo:
    """The system's time zone as a zoneinfo zone ($TZ, /etc/localtime, /etc/timezone; UTC
    when none can be named)."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in filter(None, candidates):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    log.info("cannot name the system's time zone; analytics use UTC (set analytics.timezone)")
    return ZoneInfo("UTC")


def resolve_zone(name: str) -> ZoneInfo:
    """The zone called `name`, or the system's when `name` is empty."""
    return ZoneInfo(name.strip()) if name.strip() else system_zone()


@dataclass(frozen=True)
class LocalParts:
    """Local calendar parts of many instants, as parallel int64 arrays."""

    day: Ints  # yyyymmdd
    hour: Ints  # 0-23
    weekday: Ints  # 0 = Monday
    month: Ints  # yyyymm


def local_parts(uts: npt.ArrayLike, zone: ZoneInfo) -> LocalParts:
    """The local day, hour, weekday and month of each UTC second in `uts`."""
    instants = pd.to_datetime(np.asarray(uts, dtype="int64"), unit="s", utc=True)
    wall = pd.DatetimeIndex(instants).tz_convert(zone).tz_localize(None)
    year = wall.year.to_numpy(dtype="int64")
    month = wall.month.to_numpy(dtype="int64")
    return LocalParts(
        day=year * 10000 + month * 100 + wall.day.to_numpy(dtype="int64"),
        hour=wall.hour.to_numpy(dtype="int64"),
        weekday=wall.day_of_week.to_numpy(dtype="int64"),
        month=year * 100 + month,
    )


def day_int(day: date) -> int:
    """The date as yyyymmdd."""
    return day.year * 10000 + day.month * 100 + day.day


def int_day(value: int) -> date:
    """The date of a yyyymmdd integer."""
    return date(value // 10000, value // 100 % 100, value % 100)


def day_start(day: date, zone: ZoneInfo) -> int:
    """UTC seconds of the first instant of the local `day` (local midnight, or the first
    existing instant when midnight falls into a DST gap)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def uts_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) in UTC seconds covering the local days first..last inclusive."""
    return day_start(first, zone), day_start(last + timedelta(days=1), zone)


def season_of(month_of_year: int, hemisphere: str = "north") -> str:
    """The meteorological season of a month (1-12) in the given hemisphere."""
    season = _NORTH[month_of_year]
    return _SOUTH_OF[season] if hemisphere == "south" else season


def season_year(month: int) -> int:
    """The year a yyyymm month's season is counted in: December belongs to the season of the
    following January (December 2019 - February 2020 is winter 2020 in the north)."""
    year, month_of_year = divmod(month, 100)
    return year + 1 if month_of_year == 12 else year
