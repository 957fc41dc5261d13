"""The Analytics page: charts with their numbers, CSV per chart, JSON, escaping, bad input."""

from __future__ import annotations

from sqlalchemy import Engine

from daemon.analytics.report import AnalyticsSettings
from daemon.scrobble import Scrobble, with_ordinals
from daemon.service.health import Health
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from daemon.web import WebDeps, create_app
from tests.test_analytics import BERLIN, RULES, fill, utc


def app_for(engine: Engine, settings: AnalyticsSettings | None) -> object:
    return create_app(WebDeps(engine=engine, health=lambda: Health(True), analytics=settings))


def settings() -> AnalyticsSettings:
    return AnalyticsSettings("alice", BERLIN, "north", RULES)


def test_the_page_shows_every_chart_with_its_numbers(engine: Engine) -> None:
    fill(engine)  # a small backlog: the page folds it itself
    client = app_for(engine, settings()).test_client()  # type: ignore[attr-defined]
    html = client.get("/analytics").get_data(as_text=True)
    for key in ("genres", "hours", "weekday_hour", "years", "seasons", "top_artists"):
        assert f'id="{key}"' in html
    assert html.count("<svg") >= 6
    assert "Europe/Berlin" in html
    csv = client.get("/analytics/genres.csv")
    assert csv.status_code == 200
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert "hip hop" in csv.get_data(as_text=True).lower()
    data = client.get("/api/analytics?year=2021").get_json()
    assert data["period"]["from"].startswith("2021")
    assert data["summary"]["plays"] > 0


def test_names_are_escaped_in_charts_and_tables(engine: Engine) -> None:
    payload = '<script>alert("x")</script>'
    fill(engine, [Scrobble(utc("2022-02-02T10:00:00"), payload, "T", "A")])
    client = app_for(engine, settings()).test_client()  # type: ignore[attr-defined]
    html = client.get("/analytics").get_data(as_text=True)
    assert payload not in html
    assert "&lt;script&gt;" in html


def test_bad_parameters_are_400_and_an_empty_store_says_so(engine: Engine) -> None:
    client = app_for(engine, settings()).test_client()  # type: ignore[attr-defined]
    assert client.get("/analytics?year=abc").status_code == 400
    assert client.get("/analytics?from=2021-13-01").status_code == 400
    assert "No dated plays yet" in client.get("/analytics").get_data(as_text=True)
    assert client.get("/analytics/nope.csv").status_code == 404


def test_without_analytics_settings_the_page_is_404(engine: Engine) -> None:
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals([Scrobble(1, "a", "b")]), "t")
    client = app_for(engine, None).test_client()  # type: ignore[attr-defined]
    assert client.get("/analytics").status_code == 404


def test_a_stacked_chart_with_no_point_on_its_axis_is_empty_not_an_error() -> None:
    from daemon.analytics.charts import stacked_area

    chart = stacked_area("k", "Genre share by year", [], {"rock": []})
    assert "<polygon" not in chart.svg


def test_chart_csvs_neutralise_formulas_with_the_shared_rule(engine: Engine) -> None:
    names = ["=HYPERLINK(1)", "\uff20SUM(1)", "+1+1", "-2"]
    fill(engine, [Scrobble(utc("2022-02-02T10:00:00") + i, name, "T", "A")
                  for i, name in enumerate(names)])
    client = app_for(engine, settings()).test_client()  # type: ignore[attr-defined]
    text = client.get("/analytics/top_artists.csv").get_data(as_text=True)
    for name in names:
        assert f"\n'{name}," in text
    assert "\n-" not in text
    assert "\n=" not in text
