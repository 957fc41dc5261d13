"""The page's charts, built from a report (`report.build_report`), one per question.

`report_charts` returns Chart objects (SVG plus the numbers as a table and CSV) keyed by a
stable name; the status page places them, and `plexfm stats --json` already carries the
same numbers.
"""

from __future__ import annotations

from typing import Any

from daemon.analytics.charts import (
    Chart,
    bar_chart,
    column_chart,
    heatmap,
    number,
    stacked_area,
)
from daemon.analytics.localtime import MONTHS

OTHER = "other"
HOURS = tuple(f"{h:02d}" for h in range(24))


def report_charts(report: dict[str, Any]) -> dict[str, Chart]:
    """Charts of a report: genres, genre_years, hours, weekday_hour, years, new_artists,
    months, seasons, top_artists (none when the report has no plays)."""
    if report.get("period") is None:
        return {}
    span = f"{report['period']['from']} to {report['period']['to']}, {report['timezone']}"
    charts = {
        "genres": _genres(report, span),
        "genre_years": _genre_years(report, span),
        **_time_of_day(report, span),
        **_years(report, span),
        **_seasons(report, span),
    }
    top = report["top"]["artists"]
    charts["top_artists"] = bar_chart(
        "top_artists", "Most played artists", [r["artist"] for r in top],
        [r["plays"] for r in top], desc=f"Plays per artist, {span}.")
    return charts


def _genres(report: dict[str, Any], span: str) -> Chart:
    rows = report["genres"]["overall"][:10]
    tagged = report["genres"]["tagged_plays"]
    lead = f" The most played genre is {rows[0]['genre']} ({number(rows[0]['share'], True)})." \
        if rows else " No artist has a genre yet."
    return bar_chart("genres", "Genres: share of plays", [r["genre"] for r in rows],
                     [r["share"] for r in rows], column="share", percent=True,
                     desc=f"Share of each genre among the {tagged:,} plays of artists with a "
                          f"genre, {span}.{lead}")


def _genre_years(report: dict[str, Any], span: str) -> Chart:
    movement = report["genres"]["movement"]
    years = sorted({r["year"] for r in movement})
    genres: list[str] = list(dict.fromkeys(str(r["genre"]) for r in movement))
    share = {(r["year"], r["genre"]): r["share"] for r in movement}
    series: dict[str, list[float]] = {g: [share.get((y, g), 0.0) for y in years] for g in genres}
    series[OTHER] = [max(0.0, 1.0 - sum(series[g][i] for g in genres))
                     for i in range(len(years))]
    return stacked_area("genre_years", "Genre shares year by year", [str(y) for y in years],
                        series, desc=f"Share of plays per genre for each year, {span}; "
                                     f"{OTHER} is every smaller genre.")


def _time_of_day(report: dict[str, Any], span: str) -> dict[str, Chart]:
    hours = [r["plays"] for r in report["time_of_day"]["hours"]]
    peak = max(range(24), key=lambda h: hours[h])
    grid = report["time_of_day"]["weekday_hour"]
    return {
        "hours": column_chart("hours", "Plays by hour of day", HOURS, hours,
                              desc=f"Plays per local hour, {span}. Most plays start at "
                                   f"{peak:02d}:00 ({hours[peak]:,})."),
        "weekday_hour": heatmap("weekday_hour", "Plays by weekday and hour",
                                report["time_of_day"]["weekdays"], HOURS, grid,
                                desc=f"Plays per weekday (rows) and local hour (columns), "
                                     f"{span}; darker cells hold more plays."),
    }


def _years(report: dict[str, Any], span: str) -> dict[str, Chart]:
    years = report["years"]
    labels = [str(y["year"]) for y in years]
    return {
        "years": column_chart("years", "Plays per year", labels, [y["plays"] for y in years],
                              desc=f"Plays per local calendar year, {span}."),
        "new_artists": column_chart(
            "new_artists", "New artists: share of each year's artists", labels,
            [y["new_artist_share"] for y in years], column="share", percent=True,
            desc=f"Share of the artists played each year that were played for the first "
                 f"time that year, {span}."),
    }


def _seasons(report: dict[str, Any], span: str) -> dict[str, Chart]:
    seasons = report["seasons"]
    return {
        "months": column_chart("months", "Plays by month of year", MONTHS,
                               [m["plays"] for m in seasons["months"]],
                               desc=f"Plays per month of year over all years, {span}."),
        "seasons": bar_chart("seasons", f"Plays by season ({seasons['hemisphere']}ern "
                             "hemisphere)", [s["season"] for s in seasons["seasons"]],
                             [s["plays"] for s in seasons["seasons"]],
                             desc=f"Plays per meteorological season over all years, {span}."),
    }
