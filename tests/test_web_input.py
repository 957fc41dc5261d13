"""Numbers from query strings, form bodies, JSON bodies and URLs: a whole number in range, or a
400 naming the parameter (JSON for the API), never a 500 and never a silent truncation; and
nothing is decided when a value is refused."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.test_web import Calls, build_store, make_app, status_of, token
from tests.test_web_analytics import settings

HOSTILE = pytest.mark.reliability("input", "hostile web requests")
HUGE = "9" * 30
NOT_WHOLE = ["1e23", "1.9", "\u00b2", "true", HUGE, "-1e400", "1e400", "0x10", "1_000",
             "\u0663", "nan", "-"]


@pytest.fixture
def setup(engine: Engine) -> tuple[FlaskClient, dict[str, int]]:
    ids = build_store(engine)
    return make_app(engine, Calls(), analytics=settings()).test_client(), ids


def refused(response: Any, name: str, *, json: bool = True) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    if json:
        assert response.is_json
        assert name in response.get_json()["error"]
    else:
        assert name in response.get_data(as_text=True)


@HOSTILE
@pytest.mark.parametrize("value", NOT_WHOLE)
@pytest.mark.parametrize(("path", "name"), [
    ("/api/queue?page={}", "page"), ("/api/queue?per_page={}", "per_page"),
    ("/api/matches?page={}", "page"), ("/api/library?per_page={}", "per_page"),
    ("/api/history?before={}", "before"), ("/api/history?limit={}", "limit"),
    ("/api/library/search?q=a&limit={}", "limit"),
    ("/api/queue/bulk-preview?min_score={}", "min_score"),
    ("/api/queue?after={}.1", "after"), ("/api/queue?after=1.{}", "after"),
])
def test_a_query_number_that_is_not_whole_is_a_json_400(
    setup: tuple[FlaskClient, dict[str, int]], path: str, name: str, value: str
) -> None:
    client, _ids = setup
    refused(client.get(path.format(value)), name)


@HOSTILE
@pytest.mark.parametrize(("path", "name"), [
    ("/queue?search_for={}&lq=let", "search_for"), ("/matches?change={}&lq=a", "change"),
    ("/queue?page={}", "page"), ("/history?before={}", "before"),
    ("/analytics?year={}", "year"), ("/api/analytics?year={}", "year"),
])
@pytest.mark.parametrize("value", ["\u00b2", HUGE, "1e23", "1.9"])
def test_pages_refuse_them_too(setup: tuple[FlaskClient, dict[str, int]], path: str,
                               name: str, value: str) -> None:
    client, _ids = setup
    refused(client.get(path.format(value)), name, json=path.startswith("/api/"))


@HOSTILE
@pytest.mark.parametrize(("path", "name"), [
    ("/api/queue?per_page=201", "per_page"), ("/api/queue?page=0", "page"),
    ("/api/history?limit=0", "limit"), ("/api/queue/bulk-preview?min_score=101", "min_score"),
    ("/api/history?before=-5", "before"),
])
def test_out_of_range_is_refused_not_clamped(setup: tuple[FlaskClient, dict[str, int]],
                                             path: str, name: str) -> None:
    client, _ids = setup
    refused(client.get(path), name)


def test_good_numbers_still_work(setup: tuple[FlaskClient, dict[str, int]]) -> None:
    client, _ids = setup
    for path in ["/api/queue?page=1&per_page=200", "/api/queue?page=+2&per_page=2",
                 "/api/history?before=1700000000&limit=5", "/api/queue?page=",
                 "/api/queue?after=6.3", "/analytics?year=2023", "/queue?search_for=1&lq=a"]:
        assert client.get(path).status_code == 200, path


RAW_JSON = ["1e400", "-1e400", "1e23", "true", "201.9", '"\\u00b2"', '"1e2"', "null", "[201]",
            "-201", "0", '"201 "', f"{HUGE}"]


@HOSTILE
@pytest.mark.parametrize("raw", RAW_JSON)
def test_a_json_rating_key_that_is_not_a_whole_number_is_refused(
    setup: tuple[FlaskClient, dict[str, int]], engine: Engine, raw: str
) -> None:
    client, ids = setup
    answer = client.post(f"/api/tracks/{ids['Waterlo']}/accept",
                         data='{"rating_key": %s}' % raw,  # noqa: UP031 - raw JSON text
                         headers={"X-CSRF-Token": token(client),
                                  "Content-Type": "application/json"})
    if raw == '"201 "':  # surrounding spaces are forgiven, as in a form
        assert answer.status_code == 200
        return
    refused(answer, "rating_key")
    assert answer.get_json()["ok"] is False
    assert status_of(engine, ids["Waterlo"]) == ("queued", None)


@HOSTILE
@pytest.mark.parametrize(("url", "body", "name"), [
    ("/api/tracks/{id}/skip", '{"days": 1e400}', "days"),
    ("/api/tracks/{id}/skip", '{"days": 1.5}', "days"),
    ("/api/tracks/{id}/skip", '{"days": 0}', "days"),
    ("/api/queue/bulk-accept", '{"min_score": true}', "min_score"),
    ("/api/queue/bulk-accept", '{"min_score": 89.5}', "min_score"),
    ("/api/queue/bulk-accept", '{"min_score": 90, "artist": ["ABBA"]}', "artist"),
    ("/api/queue/bulk-not-in-library", '{"artist": 5}', "artist"),
])
def test_other_json_fields(setup: tuple[FlaskClient, dict[str, int]], engine: Engine, url: str,
                           body: str, name: str) -> None:
    client, ids = setup
    answer = client.post(url.format(id=ids["Song A"]), data=body,
                         headers={"X-CSRF-Token": token(client),
                                  "Content-Type": "application/json"})
    refused(answer, name)
    assert client.get("/api/queue").get_json()["total"] == 6  # nothing skipped or decided


def test_an_integral_json_number_is_accepted(setup: tuple[FlaskClient, dict[str, int]],
                                             engine: Engine) -> None:
    client, ids = setup
    answer = client.post(f"/api/tracks/{ids['Waterlo']}/accept", data='{"rating_key": 201.0}',
                         headers={"X-CSRF-Token": token(client),
                                  "Content-Type": "application/json"})
    assert answer.status_code == 200
    assert status_of(engine, ids["Waterlo"]) == ("manual", 201)


@HOSTILE
@pytest.mark.parametrize("value", ["1e23", "201.9", "\u00b2", "true", HUGE])
def test_a_form_number_is_refused_with_a_message(setup: tuple[FlaskClient, dict[str, int]],
                                                 engine: Engine, value: str) -> None:
    client, ids = setup
    form = {"csrf_token": token(client), "rating_key": value, "next": "/queue"}
    url = f"/api/tracks/{ids['Waterlo']}/accept"
    as_json = client.post(url, data=form, headers={"Accept": "application/json"})
    refused(as_json, "rating_key")
    page = client.post(url, data=form)  # a browser's form: back to the page, with the error
    assert page.status_code == 303
    assert page.headers["Location"] == "/queue"
    assert "rating_key" in client.get("/queue").get_data(as_text=True)
    assert status_of(engine, ids["Waterlo"]) == ("queued", None)


@HOSTILE
@pytest.mark.parametrize("track", [HUGE, "9223372036854775808", "1" * 5000])
def test_a_huge_track_id_in_the_url_is_not_found(setup: tuple[FlaskClient, dict[str, int]],
                                                 track: str) -> None:
    client, _ids = setup
    answer = client.post(f"/api/tracks/{track}/unskip", headers={"X-CSRF-Token": token(client)},
                         json={})
    assert answer.status_code == 404
    assert answer.is_json


@HOSTILE
@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 50_000, "{", "\xff"])
def test_a_malformed_or_deeply_nested_json_body_is_a_400(
    setup: tuple[FlaskClient, dict[str, int]], body: str
) -> None:
    client, ids = setup
    for headers in ({}, {"X-CSRF-Token": token(client)}):
        answer = client.post(f"/api/tracks/{ids['Waterlo']}/accept", data=body,
                             headers={**headers, "Content-Type": "application/json"})
        assert answer.status_code == 400
        assert answer.is_json


@HOSTILE
def test_a_huge_body_is_refused(setup: tuple[FlaskClient, dict[str, int]]) -> None:
    client, ids = setup
    answer = client.post(f"/api/tracks/{ids['Waterlo']}/accept",
                         data={"csrf_token": token(client), "rating_key": "1" * 2_000_000},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 413

