"""The listening aggregates, as pure functions over the small results of the rollup reads.

Inputs: `genres` frames (a period column such as month yyyymm or year, genre, plays; genre ''
holds the plays of artists without a genre, left out of genre shares, whose denominators
are the plays with a genre), `hourly` frames (weekday, hour, plays), year rows and day lists
(yyyymmdd). Outputs are DataFrames or plain rows, sorted deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from daemon.analytics.localtime import SEASONS, int_day, season_of, season_year

UNTAGGED = ""


def genre_shares(plays: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Plays and share of each genre within each group of `by` (columns *by, genre, plays,
    share), groups in order, genres by plays desc then name; untagged plays left out."""
    keys = list(by)
    frame = plays[plays["genre"] != UNTAGGED]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "genre", "plays", "share"])
    counted = frame.groupby([*keys, "genre"], sort=False)["plays"].sum().reset_index()
    totals = counted.groupby(keys)["plays"].transform("sum") if keys else counted["plays"].sum()
    counted["share"] = counted["plays"] / totals
    counted = counted.sort_values([*keys, "plays", "genre"],
                                  ascending=[True] * len(keys) + [False, True])
    return counted.reset_index(drop=True)


def grouped_shares(frame: pd.DataFrame, by: list[str], n: int
                   ) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """The `n` largest genre shares of each group of `by`, keyed by the group's values."""
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    if frame.empty:
        return out
    for row in records(genre_shares(frame, by).groupby(by).head(n)):
        out.setdefault(tuple(row.pop(k) for k in by), []).append(row)
    return out


def genre_movement(by_year: pd.DataFrame, genres: Sequence[str]) -> pd.DataFrame:
    """Share of each of `genres` per year (0 when absent) and its change from the previous
    year in percentage points (NaN for the first year): year, genre, share, change_pp."""
    if by_year.empty or not genres:
        return pd.DataFrame(columns=["year", "genre", "share", "change_pp"])
    wide = by_year.pivot_table(index="year", columns="genre", values="share", aggfunc="sum")
    wide = wide.reindex(columns=list(genres)).fillna(0.0).sort_index()
    wide.columns.name = "genre"
    change = wide.diff() * 100
    long = wide.reset_index().melt(id_vars="year", var_name="genre", value_name="share")
    moved = change.reset_index().melt(id_vars="year", var_name="genre", value_name="change_pp")
    long = long.merge(moved, on=["year", "genre"])
    rank = {genre: i for i, genre in enumerate(genres)}
    long["rank"] = long["genre"].map(rank)
    return long.sort_values(["year", "rank"]).drop(columns="rank").reset_index(drop=True)


def hour_profile(hourly: pd.DataFrame) -> pd.DataFrame:
    """Plays per local hour 0-23 (all 24 rows) and each hour's share: hour, plays, share."""
    plays = hourly.groupby("hour")["plays"].sum().reindex(range(24), fill_value=0)
    total = int(plays.sum())
    return pd.DataFrame({"hour": range(24), "plays": plays.to_numpy(dtype="int64"),
                         "share": plays.to_numpy() / total if total else 0.0})


def weekday_hour(hourly: pd.DataFrame) -> pd.DataFrame:
    """Plays as a 7 x 24 matrix: index weekday 0 (Monday) - 6, columns hours 0-23."""
    matrix = hourly.pivot_table(index="weekday", columns="hour", values="plays", aggfunc="sum")
    return matrix.reindex(index=range(7), columns=range(24)).fillna(0).astype("int64")


def year_summaries(stats: Sequence[tuple[int, int, int, int, int]],
                   top_artists: Sequence[tuple[int, str, int]], genres: pd.DataFrame,
                   n: int) -> list[dict[str, Any]]:
    """Per year of `stats` (rows of year, artists, plays, new artists, their plays): plays,
    artists, new_artists (first ever played that year), new_artist_share (of the year's
    artists), new_artist_play_share (of its plays), top_artists (from `top_artists` rows of
    year, artist, plays), top_genres (from `genres`: year, genre, plays)."""
    by_year: dict[int, list[dict[str, Any]]] = {}
    for year, artist, plays in top_artists:
        by_year.setdefault(year, []).append({"artist": artist, "plays": plays})
    genre_rows = grouped_shares(genres, ["year"], n)
    return [{
        "year": year, "plays": plays, "artists": artists, "new_artists": new,
        "new_artist_share": new / artists if artists else 0.0,
        "new_artist_play_share": new_plays / plays if plays else 0.0,
        "top_artists": by_year.get(year, []), "top_genres": genre_rows.get((year,), []),
    } for year, artists, plays, new, new_plays in stats]


def month_profile(months: pd.DataFrame) -> pd.DataFrame:
    """Plays per month of year (1-12, all rows), over how many years each month had plays,
    and the share: month, plays, years, share."""
    frame = months.assign(month_of_year=months["month"] % 100)
    plays = frame.groupby("month_of_year")["plays"].sum().reindex(range(1, 13), fill_value=0)
    years = frame.groupby("month_of_year")["month"].nunique().reindex(range(1, 13), fill_value=0)
    total = int(plays.sum())
    return pd.DataFrame({"month": range(1, 13), "plays": plays.to_numpy(dtype="int64"),
                         "years": years.to_numpy(dtype="int64"),
                         "share": plays.to_numpy() / total if total else 0.0})


def month_genres(months: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """The `n` top genres of each month of year: month_of_year (1-12), genre, plays, share."""
    frame = months.assign(month_of_year=months["month"] % 100)
    return records(genre_shares(frame, ["month_of_year"]).groupby("month_of_year").head(n))


def with_seasons(months: pd.DataFrame, hemisphere: str) -> pd.DataFrame:
    """`months` with season and season_year columns (December counts toward next year)."""
    month_of_year = months["month"] % 100
    names = {m: season_of(m, hemisphere) for m in range(1, 13)}
    return months.assign(season=month_of_year.map(names),
                         season_year=[season_year(m) for m in months["month"].tolist()])


def season_table(months: pd.DataFrame, hemisphere: str, n: int) -> list[dict[str, Any]]:
    """Each season of each year of `months` (month, genre, plays): season_year, season,
    months (with plays), plays, top_genres (genre, plays, share), in calendar order."""
    if months.empty:
        return []
    frame = with_seasons(months, hemisphere)
    genres = grouped_shares(frame, ["season_year", "season"], n)
    order = {name: i for i, name in enumerate(_calendar_order(hemisphere))}
    summary = frame.groupby(["season_year", "season"]).agg(
        months=("month", "nunique"), plays=("plays", "sum")).reset_index()
    out = []
    for year, season, months_seen, plays in zip(*(summary[c].tolist() for c in summary.columns),
                                                strict=True):
        out.append({"season_year": int(year), "season": str(season), "months": int(months_seen),
                    "plays": int(plays), "top_genres": genres.get((year, season), [])})
    return sorted(out, key=lambda row: (row["season_year"], order[row["season"]]))


def _calendar_order(hemisphere: str) -> list[str]:
    """Seasons in the order they start within a season year (the one holding December)."""
    return [season_of(m, hemisphere) for m in (1, 4, 7, 10)]


def season_profile(months: pd.DataFrame, hemisphere: str, n: int) -> list[dict[str, Any]]:
    """Each season over all years: season, plays, share, top_genres."""
    frame = with_seasons(months, hemisphere)
    total = int(frame["plays"].sum())
    genres = grouped_shares(frame, ["season"], n)
    out = []
    for season in SEASONS:
        plays = int(frame.loc[frame["season"] == season, "plays"].sum())
        out.append({"season": season, "plays": plays, "share": plays / total if total else 0.0,
                    "top_genres": genres.get((season,), [])})
    return out


@dataclass(frozen=True)
class Streak:
    """Consecutive local days with at least one play."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def as_row(self) -> dict[str, Any]:
        return {"first": self.first.isoformat(), "last": self.last.isoformat(),
                "days": self.days}


def streaks(days: Sequence[int]) -> list[Streak]:
    """Runs of consecutive days among `days` (yyyymmdd, any order), longest first (then
    latest first)."""
    ordinals = np.unique(np.array([int_day(d).toordinal() for d in days], dtype="int64"))
    if not len(ordinals):
        return []
    breaks = np.flatnonzero(np.diff(ordinals) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(ordinals) - 1]))
    runs = [Streak(date.fromordinal(int(ordinals[a])), date.fromordinal(int(ordinals[b])))
            for a, b in zip(starts, ends, strict=True)]
    return sorted(runs, key=lambda s: (-s.days, -s.last.toordinal()))


def current_streak(runs: Sequence[Streak], today: date) -> Streak | None:
    """The streak still alive `today` (its last day is today or yesterday), if any."""
    alive = [s for s in runs if s.last >= today - timedelta(days=1) and s.first <= today]
    return max(alive, key=lambda s: s.last) if alive else None


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as JSON-ready dicts (Python ints, floats and strings)."""
    out = []
    for row in frame.to_dict("records"):
        out.append({str(k): _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value
