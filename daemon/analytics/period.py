"""A period of local days, and how the rollups answer it (whole years, months, partial months).

Pure apart from the zone: a period such as 2015-03-17..2019-11-02 becomes the whole years
2016-2018, the whole months 2015-04..2015-12 and 2019-01..2019-10, and the days of the partial
months 2015-03 and 2019-11 as UTC second ranges (local midnights, DST included).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from daemon.analytics.localtime import uts_bounds
from daemon.store.listening import Slices


def month_end(day: date) -> date:
    """The last day of the day's month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def yyyymm(day: date) -> int:
    """The day's month as yyyymm."""
    return day.year * 100 + day.month


@dataclass(frozen=True)
class Period:
    """Local days first..last, inclusive."""

    first: date
    last: date

    def as_row(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    def whole_months(self) -> tuple[date, date] | None:
        """The first day of the first whole month and the last day of the last one."""
        start = self.first if self.first.day == 1 else month_end(self.first) + timedelta(1)
        end = self.last if month_end(self.last) == self.last else \
            self.last.replace(day=1) - timedelta(days=1)
        return (start, end) if start <= end else None

    def partial_months(self) -> list[tuple[date, date]]:
        """The days outside whole months, as ranges within one month each."""
        whole = self.whole_months()
        if whole is None:
            if self.first > self.last:
                return []
            if (self.first.year, self.first.month) == (self.last.year, self.last.month):
                return [(self.first, self.last)]
            return [(self.first, month_end(self.first)), (self.last.replace(day=1), self.last)]
        edges = []
        if self.first < whole[0]:
            edges.append((self.first, whole[0] - timedelta(days=1)))
        if whole[1] < self.last:
            edges.append((whole[1] + timedelta(days=1), self.last))
        return edges

    def slices(self, user: str, zone: ZoneInfo, span: tuple[date, date] | None = None
               ) -> Slices:
        """The period as the rollups' slices; `span` (first and last day with plays) lets a
        period covering everything use the totals, and one covering most of it the totals
        minus the rest."""
        sl = self._slices(user, zone)
        if span is None:
            return sl
        if self.first <= span[0] and self.last >= span[1]:
            return replace(sl, everything=True)
        rest = [Period(span[0], self.first - timedelta(days=1)),
                Period(self.last + timedelta(days=1), span[1])]
        rest = [r for r in rest if r.first <= r.last]
        inside = (min(self.last, span[1]) - max(self.first, span[0])).days
        if sum((r.last - r.first).days + 1 for r in rest) < inside:
            return replace(sl, outside=tuple(r._slices(user, zone) for r in rest))
        return sl

    def _slices(self, user: str, zone: ZoneInfo) -> Slices:
        days = tuple((*uts_bounds(a, b, zone), yyyymm(a)) for a, b in self.partial_months())
        whole = self.whole_months()
        if whole is None:
            return Slices(user, days=days)
        start, end = whole
        first_year = start.year if start.month == 1 else start.year + 1
        last_year = end.year if end.month == 12 else end.year - 1
        if first_year > last_year:
            return Slices(user, months=(_months(start, end, zone),), days=days)
        months = []
        if start < date(first_year, 1, 1):
            months.append(_months(start, date(first_year - 1, 12, 31), zone))
        if end > date(last_year, 12, 31):
            months.append(_months(date(last_year + 1, 1, 1), end, zone))
        return Slices(user, (first_year, last_year), tuple(months), days)


def _months(start: date, end: date, zone: ZoneInfo) -> tuple[int, int, int, int]:
    return (yyyymm(start), yyyymm(end), *uts_bounds(start, end, zone))
