"""The analytics views: the rollups read for a period of local days, shaped by `views`.

Every view is a function (conn, settings, period, n) -> plain JSON-ready data, listed in
VIEWS; `build_report` refreshes the rollups and runs them all (what `plexfm stats --json`
prints and what the status page shows). Periods are whole local days, exact at both ends
(see `period`). Undated (uts 0) scrobbles are in no view; `summary` counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Engine

from daemon.analytics import views
from daemon.analytics.genres import GenreRules
from daemon.analytics.localtime import WEEKDAYS, day_int, int_day, resolve_zone
from daemon.analytics.period import Period
from daemon.analytics.rollup import refresh
from daemon.store import listening
from daemon.store import tags as tag_store
from daemon.store.listening import Slices

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
        from daemon.config.checks import parse_aliases

        analytics = config.analytics
        rules = GenreRules.build(analytics.min_tag_weight, parse_aliases(analytics.genre_aliases))
        return cls(user or config.lastfm.user, resolve_zone(analytics.timezone),
                   analytics.hemisphere, rules)


def period_of(conn: Connection, user: str, first: date | None = None,
              last: date | None = None) -> Period | None:
    """The period asked for, open ends filled with the first/last day with plays; None when
    an end is open and the user has no dated plays."""
    if first is None or last is None:
        span = listening.day_span(conn, user)
        if span is None:
            return None
        first = first or int_day(span[0])
        last = last or int_day(span[1])
    return Period(first, last)


def slices_of(conn: Connection, s: AnalyticsSettings, p: Period) -> Slices:
    """The period cut into the slices the rollups answer."""
    span = listening.day_span(conn, s.user)
    return p.slices(s.user, s.zone, (int_day(span[0]), int_day(span[1])) if span else None)


def genre_frame(conn: Connection, sl: Slices) -> pd.DataFrame:
    """Plays per month and primary genre ('' without one): month, genre, plays."""
    rows = listening.genre_months(conn, sl)
    return pd.DataFrame(rows, columns=["month", "genre", "plays"]).astype(
        {"month": "int64", "genre": object, "plays": "int64"})


def genres_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> dict[str, Any]:
    """Genre shares overall and per year, and how the top genres' shares moved each year."""
    months = genre_frame(conn, slices_of(conn, s, p))
    overall = views.genre_shares(months)
    by_year = views.genre_shares(months.assign(year=months["month"] // 100), ["year"])
    plays = int(months["plays"].sum())
    return {
        "overall": views.records(overall),
        "by_year": views.records(by_year.groupby("year").head(n)),
        "movement": views.records(views.genre_movement(by_year, overall["genre"].head(n).tolist())),
        "plays": plays,
        "tagged_plays": plays - int(months.loc[months["genre"] == views.UNTAGGED, "plays"].sum()),
    }


def time_of_day_view(conn: Connection, s: AnalyticsSettings, p: Period, _n: int
                     ) -> dict[str, Any]:
    """Plays per local hour, and per weekday x hour (rows Monday..Sunday, 24 columns)."""
    hourly = pd.DataFrame(listening.hourly(conn, s.user, day_int(p.first), day_int(p.last)),
                          columns=["weekday", "hour", "plays"], dtype="int64")
    matrix = views.weekday_hour(hourly)
    return {"hours": views.records(views.hour_profile(hourly)),
            "weekdays": list(WEEKDAYS),
            "weekday_hour": [[int(v) for v in row] for row in matrix.to_numpy()]}


def years_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> list[dict[str, Any]]:
    """Per year: plays, artists, new artists and their shares, top artists and genres."""
    sl = slices_of(conn, s, p)
    months = genre_frame(conn, sl)
    return views.year_summaries(listening.year_stats(conn, sl),
                                listening.year_top_artists(conn, sl, n),
                                months.assign(year=months["month"] // 100), n)


def seasons_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> dict[str, Any]:
    """Plays by month of year (and per year), by season, and each season of each year."""
    months = genre_frame(conn, slices_of(conn, s, p))
    per_month = months.groupby("month")["plays"].sum().sort_index()
    return {
        "hemisphere": s.hemisphere,
        "months": views.records(views.month_profile(months)),
        "month_by_year": [{"year": m // 100, "month": m % 100, "plays": v} for m, v in
                          zip(per_month.index.tolist(), per_month.tolist(), strict=True)],
        "month_genres": views.month_genres(months, n),
        "seasons": views.season_profile(months, s.hemisphere, n),
        "season_by_year": views.season_table(months, s.hemisphere, n),
    }


def top_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> dict[str, Any]:
    """The most played artists, albums and tracks of the period."""
    sl = slices_of(conn, s, p)
    return {
        "artists": [{"artist": a, "plays": c} for a, c in listening.top_artists(conn, sl, n)],
        "albums": [{"artist": a, "album": al, "plays": c}
                   for a, al, c in listening.top_albums(conn, sl, n)],
        "tracks": listening.top_tracks(conn, sl, n),
    }


def streaks_view(conn: Connection, s: AnalyticsSettings, p: Period, n: int) -> dict[str, Any]:
    """Runs of consecutive local days with plays: the longest ones and the current one."""
    days = listening.daily(conn, s.user, day_int(p.first), day_int(p.last))
    runs = views.streaks([d for d, _plays in days])
    current = views.current_streak(runs, datetime.now(s.zone).date())
    return {"days_with_plays": len(days), "longest": [r.as_row() for r in runs[:n]],
            "current": current.as_row() if current else None}


def most_played_view(conn: Connection, s: AnalyticsSettings, year: int, n: int
                     ) -> dict[str, Any]:
    """What Plex will show as most played in `year` once matched plays are applied: tracks,
    albums and artists by the library's names and keys."""
    return {"year": year, **{f"{group}s": listening.plex_top(conn, s.user, year, group, n)
                             for group in ("track", "album", "artist")}}


def summary_view(conn: Connection, s: AnalyticsSettings, p: Period, _n: int
                 ) -> dict[str, Any]:
    """Plays, days with plays and artists in the period; undated plays and tag coverage."""
    days = listening.daily(conn, s.user, day_int(p.first), day_int(p.last))
    return {"plays": sum(plays for _day, plays in days), "days_with_plays": len(days),
            "artists": listening.artist_count(conn, slices_of(conn, s, p)),
            "undated_plays": listening.undated_count(conn, s.user),
            "tags": tag_store.counts(conn)}


View = Callable[[Connection, AnalyticsSettings, Period, int], Any]
VIEWS: dict[str, View] = {
    "summary": summary_view, "genres": genres_view, "time_of_day": time_of_day_view,
    "years": years_view, "seasons": seasons_view, "top": top_view, "streaks": streaks_view,
}


def build_report(engine: Engine, s: AnalyticsSettings, *, first: date | None = None,
                 last: date | None = None, year: int | None = None, n: int = 10,
                 fold: bool = True, max_fold: int | None = None) -> dict[str, Any]:
    """Every view for the period (default: the whole dated history; `year` sets both ends),
    after bringing the rollups up to date. A page can pass `fold=False` (the rollups as they
    are; the tags job folds) or `max_fold`: fold only when at most that many scrobbles wait
    (what a pull adds takes milliseconds; the first fold of a large history takes seconds
    and is left to the tags job). Plain JSON-ready data."""
    if fold:
        refresh(engine, s.zone, s.rules, max_backlog=max_fold)
    if year is not None:
        first, last = date(year, 1, 1), date(year, 12, 31)
    head = {"user": s.user, "timezone": s.zone.key, "hemisphere": s.hemisphere}
    with engine.connect() as conn, conn.begin():
        p = period_of(conn, s.user, first, last)
        if p is None:
            return {**head, "period": None, "summary": {
                "plays": 0, "undated_plays": listening.undated_count(conn, s.user),
                "tags": tag_store.counts(conn)}}
        report: dict[str, Any] = {**head, "period": p.as_row()}
        for name, view in VIEWS.items():
            report[name] = view(conn, s, p, n)
        report["most_played"] = most_played_view(conn, s, year or p.last.year, n)
    return report
