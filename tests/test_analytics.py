"""Analytics aggregates against values computed by hand on a ten-play history in Berlin.

The plays (UTC -> Europe/Berlin local time):
  1  2020-12-31 23:30Z Rapper R1   -> Fri 2021-01-01 00:30 (a new year locally)
  2  2021-03-28 00:59:59Z Jazzer J1 -> Sun 01:59:59 CET (spring forward follows)
  3  2021-03-28 01:00Z Jazzer J1   -> Sun 03:00 CEST (hour 2 does not exist that day)
  4  2021-07-01 23:59:59Z Rocker K1 -> Fri 2021-07-02 01:59:59 (the next local day)
  5  2021-10-31 00:30Z Rapper R1   -> Sun 02:30 CEST (fall back: hour 2 twice)
  6  2021-10-31 01:30Z Rapper R2   -> Sun 02:30 CET
  7  2021-12-15 12:00Z Nameless N1 -> Wed 13:00 (no genre)
  8  2022-01-01 10:00Z Jazzer J2   -> Sat 11:00
  9  2022-01-02 10:00Z Jazzer J2   -> Sun 11:00
 10  2022-06-15 18:00Z Newbie B1   -> Wed 20:00
  and one legacy play of Rapper R1 with uts 0 (in no view, counted as undated).
Genres: Rapper hip hop, Jazzer jazz, Rocker rock, Newbie rock, Nameless none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from daemon.analytics import views
from daemon.analytics.genres import GenreRules
from daemon.analytics.report import AnalyticsSettings, Period, build_report
from daemon.analytics.rollup import refresh
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import matches
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tags as tag_store
from daemon.store.engine import write

BERLIN = ZoneInfo("Europe/Berlin")
RULES = GenreRules.build()
TAGS = {"Rapper": [("Hip-Hop", 100), ("seen live", 50)], "Jazzer": [("jazz", 100)],
        "Rocker": [("rock", 100)], "Newbie": [("Rock", 90), ("pop", 5)], "Nameless": []}


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


PLAYS = [
    Scrobble(utc("2020-12-31T23:30:00"), "Rapper", "R1", "Raps"),
    Scrobble(utc("2021-03-28T00:59:59"), "Jazzer", "J1", "Cool"),
    Scrobble(utc("2021-03-28T01:00:00"), "Jazzer", "J1", "Cool"),
    Scrobble(utc("2021-07-01T23:59:59"), "Rocker", "K1", ""),
    Scrobble(utc("2021-10-31T00:30:00"), "Rapper", "R1", "Raps"),
    Scrobble(utc("2021-10-31T01:30:00"), "Rapper", "R2", "Raps"),
    Scrobble(utc("2021-12-15T12:00:00"), "Nameless", "N1", "Nx"),
    Scrobble(utc("2022-01-01T10:00:00"), "Jazzer", "J2", "Cool"),
    Scrobble(utc("2022-01-02T10:00:00"), "Jazzer", "J2", "Cool"),
    Scrobble(utc("2022-06-15T18:00:00"), "Newbie", "B1", "Bx"),
    Scrobble(0, "Rapper", "R1", "Raps"),
]


def fill(engine: Engine, plays: list[Scrobble] = PLAYS, user: str = "alice") -> None:
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, user, with_ordinals(plays), "test")
        for artist, tags in TAGS.items():
            status = tag_store.OK if tags else tag_store.EMPTY
            tag_store.save_answer(conn, artist, status, "artist", tags,
                                  RULES.artist_genres(artist, tags), 1)


@pytest.fixture
def settings() -> AnalyticsSettings:
    return AnalyticsSettings("alice", BERLIN, "north", RULES)


@pytest.fixture
def report(engine: Engine, settings: AnalyticsSettings) -> dict[str, Any]:
    fill(engine)
    with write(engine) as conn:  # someone else's scrobbles never count
        scrobble_queries.insert_rows(conn, "bob", with_ordinals(PLAYS[:3]), "test")
    return build_report(engine, settings, n=5)


def pick(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[k] for k in keys) for row in rows]


def test_summary_counts_dated_plays_and_undated_separately(report: dict[str, Any]) -> None:
    assert report["period"] == {"from": "2021-01-01", "to": "2022-06-15"}
    summary = report["summary"]
    assert (summary["plays"], summary["undated_plays"]) == (10, 1)
    assert (summary["days_with_plays"], summary["artists"]) == (8, 5)
    assert summary["tags"] == {"ok": 4, "empty": 1, "unknown": 0, "failed": 0, "pending": 0}


def test_genre_shares_overall_per_year_and_movement(report: dict[str, Any]) -> None:
    genres = report["genres"]
    assert (genres["plays"], genres["tagged_plays"]) == (10, 9)
    assert pick(genres["overall"], "genre", "plays") == [("jazz", 4), ("hip hop", 3),
                                                         ("rock", 2)]
    assert genres["overall"][0]["share"] == pytest.approx(4 / 9)
    assert pick(genres["by_year"], "year", "genre", "plays") == [
        (2021, "hip hop", 3), (2021, "jazz", 2), (2021, "rock", 1),
        (2022, "jazz", 2), (2022, "rock", 1)]
    assert genres["by_year"][0]["share"] == pytest.approx(0.5)
    movement = {(r["year"], r["genre"]): (r["share"], r["change_pp"])
                for r in genres["movement"]}
    assert movement[(2021, "jazz")] == (pytest.approx(1 / 3), None)
    assert movement[(2022, "jazz")] == (pytest.approx(2 / 3), pytest.approx(100 / 3))
    assert movement[(2022, "hip hop")] == (0.0, pytest.approx(-50.0))
    assert movement[(2022, "rock")][1] == pytest.approx(100 / 6)


def test_hours_and_weekday_hour_in_local_time_across_dst(report: dict[str, Any]) -> None:
    hours = {r["hour"]: r["plays"] for r in report["time_of_day"]["hours"] if r["plays"]}
    assert hours == {0: 1, 1: 2, 2: 2, 3: 1, 11: 2, 13: 1, 20: 1}
    grid = report["time_of_day"]["weekday_hour"]
    cells = {(d, h): v for d, row in enumerate(grid) for h, v in enumerate(row) if v}
    assert cells == {(4, 0): 1, (4, 1): 1, (6, 1): 1, (6, 3): 1, (6, 2): 2, (2, 13): 1,
                     (5, 11): 1, (6, 11): 1, (2, 20): 1}


def test_years_top_artists_and_new_artist_share(report: dict[str, Any]) -> None:
    years = {y["year"]: y for y in report["years"]}
    assert set(years) == {2021, 2022}  # play 1 is 2020 in UTC but 2021 in Berlin
    y21, y22 = years[2021], years[2022]
    assert (y21["plays"], y21["artists"], y21["new_artists"]) == (7, 4, 4)
    assert y21["new_artist_share"] == 1.0
    assert pick(y21["top_artists"], "artist", "plays")[:2] == [("Rapper", 3), ("Jazzer", 2)]
    assert pick(y21["top_genres"], "genre", "plays") == [("hip hop", 3), ("jazz", 2),
                                                         ("rock", 1)]
    assert (y22["plays"], y22["artists"], y22["new_artists"]) == (3, 2, 1)
    assert y22["new_artist_share"] == 0.5
    assert y22["new_artist_play_share"] == pytest.approx(1 / 3)


def test_months_and_seasons_north(report: dict[str, Any]) -> None:
    seasons = report["seasons"]
    months = {r["month"]: (r["plays"], r["years"]) for r in seasons["months"] if r["plays"]}
    assert months == {1: (3, 2), 3: (2, 1), 6: (1, 1), 7: (1, 1), 10: (2, 1), 12: (1, 1)}
    assert pick(seasons["month_by_year"], "year", "month", "plays")[:2] == [(2021, 1, 1),
                                                                           (2021, 3, 2)]
    assert pick(seasons["seasons"], "season", "plays") == [
        ("winter", 4), ("spring", 2), ("summer", 2), ("autumn", 2)]
    assert pick(seasons["season_by_year"], "season_year", "season", "months", "plays") == [
        (2021, "winter", 1, 1), (2021, "spring", 1, 2), (2021, "summer", 1, 1),
        (2021, "autumn", 1, 2), (2022, "winter", 2, 3), (2022, "summer", 1, 1)]
    winter_2022 = seasons["season_by_year"][4]["top_genres"]
    assert pick(winter_2022, "genre", "plays", "share") == [("jazz", 2, 1.0)]


def test_seasons_south(engine: Engine) -> None:
    fill(engine)
    south = AnalyticsSettings("alice", BERLIN, "south", RULES)
    seasons = build_report(engine, south)["seasons"]
    assert pick(seasons["seasons"], "season", "plays") == [
        ("winter", 2), ("spring", 2), ("summer", 4), ("autumn", 2)]
    assert pick(seasons["season_by_year"], "season_year", "season")[:2] == [
        (2021, "summer"), (2021, "autumn")]


def test_top_lists_and_streaks(report: dict[str, Any]) -> None:
    top = report["top"]
    assert pick(top["artists"], "artist", "plays") == [
        ("Jazzer", 4), ("Rapper", 3), ("Nameless", 1), ("Newbie", 1), ("Rocker", 1)]
    assert pick(top["albums"], "artist", "album", "plays") == [
        ("Jazzer", "Cool", 4), ("Rapper", "Raps", 3), ("Nameless", "Nx", 1), ("Newbie", "Bx", 1)]
    assert sorted(pick(top["tracks"], "title", "plays"))[:3] == [("B1", 1), ("J1", 2),
                                                                ("J2", 2)]
    assert top["tracks"][0]["plays"] == 2
    streaks = report["streaks"]
    assert streaks["days_with_plays"] == 8
    assert streaks["longest"][0] == {"first": "2022-01-01", "last": "2022-01-02", "days": 2}
    assert streaks["current"] is None


@pytest.mark.parametrize(("first", "last", "plays", "artists"), [
    (date(2021, 10, 31), date(2022, 1, 1), 4, [("Rapper", 2), ("Jazzer", 1), ("Nameless", 1)]),
    (date(2021, 7, 2), date(2021, 7, 2), 1, [("Rocker", 1)]),  # 23:59:59 UTC on July 1
    (date(2021, 7, 1), date(2021, 7, 1), 0, []),
    (date(2021, 3, 28), date(2021, 3, 28), 2, [("Jazzer", 2)]),  # the 23-hour day
    (date(2021, 1, 1), date(2021, 12, 31), 7, [("Rapper", 3), ("Jazzer", 2), ("Nameless", 1)]),
    (date(2021, 2, 1), date(2021, 11, 30), 5, [("Jazzer", 2), ("Rapper", 2), ("Rocker", 1)]),
    (date(2021, 1, 2), date(2022, 6, 15), 9, [("Jazzer", 4), ("Rapper", 2), ("Nameless", 1)]),
    (date(2020, 1, 1), date(2022, 6, 14), 9, [("Jazzer", 4), ("Rapper", 3), ("Nameless", 1)]),
    (date(2021, 1, 2), date(2022, 6, 14), 8, [("Jazzer", 4), ("Rapper", 2), ("Nameless", 1),
                                             ("Rocker", 1)]),
])
def test_any_period_is_exact_at_local_day_boundaries(
    engine: Engine, settings: AnalyticsSettings, first: date, last: date, plays: int,
    artists: list[tuple[str, int]]
) -> None:
    fill(engine)
    report = build_report(engine, settings, first=first, last=last, n=len(artists) or 3)
    assert report["summary"]["plays"] == plays
    assert pick(report["top"]["artists"], "artist", "plays") == artists
    assert sum(r["plays"] for r in report["time_of_day"]["hours"]) == plays
    assert sum(r["plays"] for r in report["top"]["tracks"]) <= plays


def test_year_option_counts_the_local_year(engine: Engine, settings: AnalyticsSettings) -> None:
    fill(engine)
    report = build_report(engine, settings, year=2021)
    assert report["period"] == {"from": "2021-01-01", "to": "2021-12-31"}
    assert report["summary"]["plays"] == 7
    utc_report = build_report(engine, AnalyticsSettings("alice", ZoneInfo("UTC")), year=2021)
    assert utc_report["summary"]["plays"] == 6  # play 1 is 2020 in UTC: the rollups rebuilt
    assert utc_report["timezone"] == "UTC"


def test_most_played_counts_matched_plays_by_plex_item(
    engine: Engine, settings: AnalyticsSettings
) -> None:
    fill(engine)
    refresh(engine, settings.zone, settings.rules)
    with write(engine) as conn:
        for key, title, album_key, artist_key in ((101, "R1", 10, 1), (102, "R2", 10, 1),
                                                  (201, "J1", 20, 2)):
            conn.exec_driver_sql(
                "INSERT INTO library_tracks (rating_key, section_id, title, album_artist, album,"
                " album_rating_key, artist_rating_key, refreshed_at) VALUES (?, 1, ?, ?, ?, ?,"
                " ?, 0)", (key, title, f"Artist{artist_key}", f"Album{album_key}", album_key,
                           artist_key))
        decisions = [matches.Decision(matches.find_track(conn, *t) or 0, "auto", k) for t, k in
                     ((("Rapper", "R1", "Raps"), 101), (("Rapper", "R2", "Raps"), 102),
                      (("Jazzer", "J1", "Cool"), 201))]
        decisions.append(matches.Decision(matches.find_track(conn, "Rocker", "K1", "") or 0,
                                          "queued", None))
        matches.save_decisions(conn, decisions, "test")
    most = build_report(engine, settings, year=2021)["most_played"]
    assert most["year"] == 2021
    assert pick(most["tracks"], "key", "plays", "title") == [(101, 2, "R1"), (201, 2, "J1"),
                                                            (102, 1, "R2")]
    assert pick(most["albums"], "key", "plays", "album") == [(10, 3, "Album10"),
                                                            (20, 2, "Album20")]
    assert pick(most["artists"], "key", "plays") == [(1, 3), (2, 2)]


def test_empty_store_gives_an_empty_report(engine: Engine, settings: AnalyticsSettings) -> None:
    report = build_report(engine, settings)
    assert report["period"] is None
    assert report["summary"]["plays"] == 0


def test_period_slices_into_years_months_and_partial_months() -> None:
    def cut(first: date, last: date) -> tuple[Any, ...]:
        sl = Period(first, last).slices("u", BERLIN)
        return (sl.years, [m[:2] for m in sl.months], [d[2] for d in sl.days])

    assert cut(date(2021, 1, 1), date(2021, 12, 31)) == ((2021, 2021), [], [])
    assert cut(date(2015, 3, 17), date(2019, 11, 2)) == (
        (2016, 2018), [(201504, 201512), (201901, 201910)], [201503, 201911])
    assert cut(date(2021, 1, 15), date(2021, 3, 3)) == (None, [(202102, 202102)],
                                                        [202101, 202103])
    assert cut(date(2021, 1, 15), date(2021, 1, 20)) == (None, [], [202101])
    assert cut(date(2021, 2, 2), date(2021, 3, 1)) == (None, [], [202102, 202103])
    assert cut(date(2020, 12, 1), date(2022, 1, 31)) == (
        (2021, 2021), [(202012, 202012), (202201, 202201)], [])
    spring = Period(date(2021, 3, 28), date(2021, 3, 28)).slices("u", BERLIN)
    assert spring.days[0][1] - spring.days[0][0] == 23 * 3600
    assert Period(date(2021, 1, 1), date(2022, 1, 1)).slices(
        "u", BERLIN, (date(2021, 1, 2), date(2021, 12, 30))).everything


def test_streaks_and_the_current_one() -> None:
    runs = views.streaks([20240229, 20240301, 20240302, 20240305, 20231231, 20240101])
    assert [(r.first.isoformat(), r.days) for r in runs] == [
        ("2024-02-29", 3), ("2023-12-31", 2), ("2024-03-05", 1)]
    assert views.current_streak(runs, date(2024, 3, 6)) == runs[2]
    assert views.current_streak(runs, date(2024, 3, 7)) is None
    assert views.streaks([]) == []


def test_report_without_fold_reads_the_rollups_as_they_are(
    engine: Engine, settings: AnalyticsSettings
) -> None:
    fill(engine)
    assert build_report(engine, settings, fold=False)["period"] is None
    assert build_report(engine, settings)["summary"]["plays"] == 10


def test_max_fold_folds_a_pull_and_defers_a_big_backlog(
    engine: Engine, settings: AnalyticsSettings
) -> None:
    fill(engine, PLAYS[:4])
    assert build_report(engine, settings, max_fold=3)["period"] is None  # 4 waiting: deferred
    assert build_report(engine, settings, max_fold=4)["summary"]["plays"] == 4
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(PLAYS[4:6]), "test")
    assert build_report(engine, settings, max_fold=3)["summary"]["plays"] == 6
