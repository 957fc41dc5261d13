"""The analytics views: rollups read for a period of local days, aggregated by `views`.

Every view is a function (conn, settings, period, n) -> plain JSON-ready data, listed in
VIEWS; `build_report` refreshes the rollups and runs them all (what `plexfm stats --json`
prints and what the status page shows). Periods are whole local days; whole months come from
the monthly rollups and the days of a partial month at either end from the scrobbles
themselves, so any period is exact. Undated (uts 0) scrobbles are in no view; `summary`
counts them.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Engine

from daemon.analytics import views
from daemon.analytics.genres import GenreRules
from daemon.analytics.localtime import (
    WEEKDAYS,
    day_int,
    int_day,
    local_parts,
    resolve_zone,
    uts_bounds,
)
from daemon.analytics.rollup import refresh
from daemon.store import rollups
from daemon.store import tags as tag_store

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from daemon.config import Config


@dataclass(frozen=True)
class AnalyticsSettings:
    """Whose plays, in which zone and hemisphere, with which genre rules."""

    user: str
    zone: ZoneInfo
    hemisphere: str = "north"
    rules: GenreRules = field(default_factory=GenreRules)

    @classmethod
    def from_config(cls, config: Config, user: str | None = None) -> AnalyticsSettings:
        """Settings from `analytics.*` for `user` (default lastfm.user)."""
        from daemon.config import parse_aliases

        analytics = config.analytics
        rules = GenreRules.build(analytics.min_tag_weight, parse_aliases(analytics.genre_aliases))
        return cls(user or config.lastfm.user, resolve_zone(analytics.timezone),
                   analytics.hemisphere, rules)


@dataclass(frozen=True)
class Period:
    """Local days first..last, inclusive."""

    first: date
    last: date

    def months(self) -> tuple[tuple[int, int] | None, list[tuple[date, date]]]:
        """The whole months inside (first, last as yyyymm; None when none) and the partial
        months at the ends as day ranges."""
        start = self.first if self.first.day == 1 else _next_month(self.first)
        end = self.last if _month_end(self.last) == self.last else \
            self.last.replace(day=1) - timedelta(days=1)
        if start > end:
            return None, [(self.first, self.last)] if self.first <= self.last else []
        edges = []
        if self.first < start:
            edges.append((self.first, start - timedelta(days=1)))
        if end < self.last:
            edges.append((end + timedelta(days=1), self.last))
        return (_yyyymm(start), _yyyymm(end)), edges

    def as_row(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def _next_month(day: date) -> date:
    return _month_end(day) + timedelta(days=1)


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _yyyymm(day: date) -> int:
    return day.year * 100 + day.month


def period_of(conn: Connection, user: str, first: date | None = None,
              last: date | None = None) -> Period | None:
    """The period asked for, open ends filled with the first/last day with plays; None when
    an end is open and the user has no dated plays."""
    if first is None or last is None:
        span = rollups.day_span(conn, user)
        if span is None:
            return None
        first = first or int_day(span[0])
        last = last or int_day(span[1])
    return Period(first, last)


def artist_months(conn: Connection, s: AnalyticsSettings, p: Period) -> pd.DataFrame:
    """Plays per month and artist within the period: month, artist, plays."""
    whole, edges = p.months()
    parts = [rollups.monthly_artists(conn, s.user, *whole)] if whole else []
    for first, last in edges:
        raw = rollups.dated_plays(conn, s.user, *uts_bounds(first, last, s.zone))
        raw["month"] = local_parts(raw["uts"].to_numpy(), s.zone).month
        parts.append(raw.groupby(["month", "artist"]).size().reset_index(name="plays"))
    if not parts:
        return pd.DataFrame({"month": [], "artist": [], "plays": []})
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(["month", "artist"], sort=False)["plays"].sum().reset_index()


def track_plays(conn: Connection, s: AnalyticsSettings, p: Period) -> pd.DataFrame:
    """Plays per track within the period: track_id, plays."""
    span = rollups.day_span(conn, s.user)
    if span and p.first <= int_day(span[0]) and p.last >= int_day(span[1]):
        return rollups.track_totals(conn, s.user)
    whole, edges = p.months()
    parts = [rollups.monthly_track_totals(conn, s.user, *whole)] if whole else []
    for first, last in edges:
        raw = rollups.dated_plays(conn, s.user, *uts_bounds(first, last, s.zone))
        parts.append(raw.groupby("track_id").size().reset_index(name="plays"))
    if not parts:
        return pd.DataFrame({"track_id": [], "plays": []})
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby("track_id", sort=False)["plays"].sum().reset_index()


def genre_map(conn: Connection) -> pd.Series:
    """artist -> primary genre, for artists with one."""
    frame = tag_store.primary_genres(conn)
    return pd.Series(frame["genre"].to_numpy(), index=frame["artist"].to_numpy(), dtype=object)


def genres_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> dict[str, Any]:
    """Genre shares overall and per year, and how the top genres' shares moved each year."""
    months = artist_months(conn, s, p)
    genre_of = genre_map(conn)
    by_year_plays = months.assign(year=months["month"] // 100)
    overall = views.genre_shares(months, genre_of)
    by_year = views.genre_shares(by_year_plays, genre_of, ["year"])
    leaders = overall["genre"].head(n).tolist()
    coverage = views.tagged_plays(months, genre_of)
    return {
        "overall": views.records(overall),
        "by_year": views.records(by_year.groupby("year").head(n)),
        "movement": views.records(views.genre_movement(by_year, leaders)),
        "plays": int(coverage["plays"].iloc[0]),
        "tagged_plays": int(coverage["tagged_plays"].iloc[0]),
    }


def time_of_day_view(conn: Connection, s: AnalyticsSettings, p: Period, _n: int
                     ) -> dict[str, Any]:
    """Plays per local hour, and per weekday x hour (rows Monday..Sunday, 24 columns)."""
    hourly = rollups.hourly(conn, s.user, day_int(p.first), day_int(p.last))
    matrix = views.weekday_hour(hourly)
    return {"hours": views.records(views.hour_profile(hourly)),
            "weekdays": list(WEEKDAYS),
            "weekday_hour": [[int(v) for v in row] for row in matrix.to_numpy()]}


def years_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> list[dict[str, Any]]:
    """Per year: plays, artists, new artists and their shares, top artists and genres."""
    return views.year_summaries(artist_months(conn, s, p), rollups.first_months(conn, s.user),
                                genre_map(conn), n)


def seasons_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> dict[str, Any]:
    """Plays by month of year (and per year), by season, and each season of each year."""
    months = artist_months(conn, s, p)
    genre_of = genre_map(conn)
    per_month = months.groupby("month")["plays"].sum().sort_index()
    return {
        "hemisphere": s.hemisphere,
        "months": views.records(views.month_profile(months)),
        "month_by_year": [{"year": m // 100, "month": m % 100, "plays": v} for m, v in
                          zip(per_month.index.tolist(), per_month.tolist(), strict=True)],
        "month_genres": views.records(views.genre_shares(
            months.assign(month_of_year=months["month"] % 100), genre_of, ["month_of_year"]
        ).groupby("month_of_year").head(n)),
        "seasons": views.season_profile(months, genre_of, s.hemisphere, n),
        "season_by_year": views.season_table(months, genre_of, s.hemisphere, n),
    }


def top_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> dict[str, Any]:
    """The most played artists, albums and tracks of the period."""
    plays = track_plays(conn, s, p)
    best = views.top(plays, ["track_id"], n)
    names = rollups.track_names(conn, best["track_id"].tolist())
    tracks = best.merge(names, on="track_id", how="left")
    albums = plays.merge(rollups.track_albums(conn), on="track_id")
    albums = views.top(albums[albums["album"] != ""], ["artist", "album"], n)
    artists = views.top(artist_months(conn, s, p), ["artist"], n)
    return {"artists": views.records(artists), "albums": views.records(albums),
            "tracks": views.records(tracks)}


def streaks_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> dict[str, Any]:
    """Runs of consecutive local days with plays: the longest ones and the current one."""
    days = rollups.daily(conn, s.user, day_int(p.first), day_int(p.last))
    runs = views.streaks(days["day"].tolist())
    today = datetime.now(s.zone).date()
    current = views.current_streak(runs, today)
    return {"days_with_plays": len(days), "longest": [r.as_row() for r in runs[:n]],
            "current": current.as_row() if current else None}


def most_played_view(conn: Connection, s: AnalyticsSettings, year: int, n: int
                     ) -> dict[str, Any]:
    """What Plex will show as most played in `year` once matched plays are applied: tracks,
    albums and artists by the library's names and keys."""
    months = (year * 100 + 1, year * 100 + 12)
    return {"year": year, **{
        f"{group}s": views.records(rollups.plex_top(conn, s.user, *months, group, n))
        for group in ("track", "album", "artist")}}


def summary_view(conn: Connection, s: AnalyticsSettings, p: Period, _n: int
                 ) -> dict[str, Any]:
    """Plays, days, artists and tracks in the period; undated plays and tag coverage."""
    days = rollups.daily(conn, s.user, day_int(p.first), day_int(p.last))
    return {"plays": int(days["plays"].sum()), "days_with_plays": len(days),
            "artists": int(artist_months(conn, s, p)["artist"].nunique()),
            "tracks": len(track_plays(conn, s, p)),
            "undated_plays": rollups.undated_count(conn, s.user),
            "tags": tag_store.counts(conn)}


View = Callable[[Connection, AnalyticsSettings, Period, int], Any]
VIEWS: dict[str, View] = {
    "summary": summary_view, "genres": genres_view, "time_of_day": time_of_day_view,
    "years": years_view, "seasons": seasons_view, "top": top_view, "streaks": streaks_view,
}


def build_report(engine: Engine, s: AnalyticsSettings, *, first: date | None = None,
                 last: date | None = None, year: int | None = None, n: int = 10
                 ) -> dict[str, Any]:
    """Every view for the period (default: the whole dated history; `year` sets both ends),
    after bringing the rollups up to date. Plain JSON-ready data."""
    refresh(engine, s.zone, s.rules)
    if year is not None:
        first, last = date(year, 1, 1), date(year, 12, 31)
    head = {"user": s.user, "timezone": s.zone.key, "hemisphere": s.hemisphere}
    with engine.connect() as conn, conn.begin():
        p = period_of(conn, s.user, first, last)
        if p is None:
            return {**head, "period": None, "summary": {
                "plays": 0, "undated_plays": rollups.undated_count(conn, s.user),
                "tags": tag_store.counts(conn)}}
        report: dict[str, Any] = {**head, "period": p.as_row()}
        for name, view in VIEWS.items():
            report[name] = view(conn, s, p, n)
        report["most_played"] = most_played_view(conn, s, year or p.last.year, n)
    return report
