"""Local time (DST, day bounds, seasons) and the incremental fold of the rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from daemon.analytics.genres import GenreRules
from daemon.analytics.localtime import (
    local_parts,
    resolve_zone,
    season_of,
    season_year,
    system_zone,
    uts_bounds,
)
from daemon.analytics.rollup import refresh
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import listening, rollups
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tags as tag_store
from daemon.store.engine import write
from tests.fakes.history_gen import generate_history

BERLIN = ZoneInfo("Europe/Berlin")
RULES = GenreRules.build()


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(("instant", "day", "hour", "weekday"), [
    ("2021-03-28T00:59:59", 20210328, 1, 6),  # last second of CET
    ("2021-03-28T01:00:00", 20210328, 3, 6),  # first second of CEST: hour 2 skipped
    ("2021-10-31T00:30:00", 20211031, 2, 6),  # 02:30 CEST
    ("2021-10-31T01:30:00", 20211031, 2, 6),  # 02:30 CET, the same hour again
    ("2021-07-01T23:59:59", 20210702, 1, 4),  # 23:59:59 UTC is the next local day
    ("2020-12-31T23:30:00", 20210101, 0, 4),  # and the next local year
    ("2021-01-01T00:00:00", 20210101, 1, 4),
])
def test_local_parts_in_berlin(instant: str, day: int, hour: int, weekday: int) -> None:
    parts = local_parts([utc(instant)], BERLIN)
    assert (int(parts.day[0]), int(parts.hour[0]), int(parts.weekday[0])) == (day, hour, weekday)
    assert int(parts.month[0]) == day // 100


@pytest.mark.parametrize(("day", "hours"), [
    (date(2021, 3, 28), 23), (date(2021, 10, 31), 25), (date(2021, 7, 1), 24)])
def test_local_day_bounds_follow_dst(day: date, hours: int) -> None:
    start, end = uts_bounds(day, day, BERLIN)
    assert end - start == hours * 3600
    assert datetime.fromtimestamp(start, BERLIN).hour == 0


def test_seasons_by_hemisphere_and_season_year() -> None:
    assert [season_of(m) for m in (12, 1, 3, 6, 9)] == [
        "winter", "winter", "spring", "summer", "autumn"]
    assert [season_of(m, "south") for m in (12, 1, 3, 6, 9)] == [
        "summer", "summer", "autumn", "winter", "spring"]
    assert (season_year(201912), season_year(202001), season_year(202011)) == (2020, 2020, 2020)


def test_zones_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_zone("Europe/Berlin") == BERLIN
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    assert system_zone() == ZoneInfo("America/Sao_Paulo")
    assert resolve_zone("") == ZoneInfo("America/Sao_Paulo")


def store(engine: Engine, plays: list[Scrobble], user: str = "alice") -> None:
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, user, with_ordinals(plays), "test")


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {table: sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table}"))
                for table in rollups.ROLLUPS}


def test_incremental_folds_equal_one_fold_of_everything(
    engine: Engine,
) -> None:
    history = generate_history(3000, seed=4)
    store(engine, history[1500:])
    assert refresh(engine, BERLIN, RULES)["folded"] == 1500 - 5  # 5 undated plays
    store(engine, history[:1500])
    store(engine, history[:10], user="bob")
    assert refresh(engine, BERLIN, RULES, chunk=400)["folded"] == 1510
    assert refresh(engine, BERLIN, RULES) == {"folded": 0, "rebuilt": 0, "genres_remapped": 0,
                                              "deferred": 0}
    incremental = snapshot(engine)

    with write(engine) as conn:
        rollups.clear(conn)
    assert refresh(engine, BERLIN, RULES)["folded"] == 3000 - 5 + 10
    assert snapshot(engine) == incremental
    with engine.connect() as conn:
        total = conn.exec_driver_sql("SELECT sum(plays) FROM rollup_hourly").scalar()
        sums = [conn.exec_driver_sql(f"SELECT sum(plays) FROM {table}").scalar()
                for table in rollups.ROLLUPS if not table.startswith("rollup_album")]
    assert total == 3005
    assert set(sums) == {3005}


def test_a_new_zone_rebuilds_the_rollups(engine: Engine) -> None:
    store(engine, [Scrobble(utc("2020-12-31T23:30:00"), "A", "T")])
    refresh(engine, BERLIN, RULES)
    counts = refresh(engine, ZoneInfo("UTC"), RULES)
    assert (counts["rebuilt"], counts["folded"]) == (1, 1)
    with engine.connect() as conn:
        assert listening.day_span(conn, "alice") == (20201231, 20201231)


def test_new_genre_rules_remap_stored_tags(engine: Engine) -> None:
    store(engine, [Scrobble(1_600_000_000, "A", "T")])
    with write(engine) as conn:
        tags = [("rock", 100), ("chiptune", 80)]
        tag_store.save_answer(conn, "A", "ok", "artist", tags, RULES.artist_genres("A", tags), 1)
    refresh(engine, BERLIN, RULES)
    rules = GenreRules.build(min_weight=10, aliases={"chiptune": "electronic", "rock": ""})
    assert refresh(engine, BERLIN, rules)["genres_remapped"] == 1
    with engine.connect() as conn:
        frame = tag_store.primary_genres(conn)
    assert frame.to_dict("records") == [{"artist": "A", "genre": "electronic",
                                         "genres": "electronic"}]
