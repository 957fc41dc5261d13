"""What the pages say, read as a user reads it: counts as words ("1 track", never "1 tracks"),
statuses in words, and buttons that say what they will do now."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from daemon.analytics.report import AnalyticsSettings
from daemon.scrobble import Scrobble, with_ordinals
from daemon.service.health import Health
from daemon.service.runs import JobRunner
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from daemon.web import WebDeps, create_app
from tests.test_analytics import BERLIN, RULES, utc
from tests.test_web import Calls, build_store, make_app, post


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return build_store(engine)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def client(engine: Engine, ids: dict[str, int], calls: Calls) -> FlaskClient:
    return make_app(engine, calls).test_client()


def text_of(html: str) -> str:
    """The page's text, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_one_track_is_one_track(client: FlaskClient, ids: dict[str, int]) -> None:
    matches = text_of(client.get("/matches?status=auto&artist=ABBA").text)
    assert "Matches 1 track " in matches
    assert "Matches 2 tracks " in text_of(client.get("/matches?status=auto").text)
    library = text_of(client.get("/library?q=Hyperballad").text)
    assert "Library 1 track " in library


def test_the_read_back_counts_its_tracks_in_words(engine: Engine, ids: dict[str, int],
                                                 calls: Calls) -> None:
    JobRunner(engine).run("apply", lambda: {"added": 3, "readback": {
        "status": "agrees", "checked": 1, "disagreements": 0, "examples": [], "note": ""}},
        "schedule")
    page = text_of(make_app(engine, calls).test_client().get("/").text)
    assert "Plex agrees on 1 track " in page


def test_undo_names_the_old_status_in_words(client: FlaskClient, ids: dict[str, int]) -> None:
    track = ids["Song B"]
    assert post(client, f"/api/tracks/{track}/not-in-library").status_code == 200
    answer = post(client, f"/api/tracks/{track}/undo").json
    assert answer["message"].endswith("(was not in library)")
    assert answer["was"] == "not_in_library"  # the JSON keeps the status itself


def test_the_apply_button_says_now_while_the_window_is_open(engine: Engine,
                                                            ids: dict[str, int],
                                                            calls: Calls) -> None:
    now = datetime.now().astimezone()
    opened = ((now - timedelta(minutes=5)).time(), (now + timedelta(minutes=50)).time())
    closed = ((now + timedelta(hours=2)).time(), (now + timedelta(hours=3)).time())
    page = text_of(make_app(engine, calls, window=opened).test_client().get("/").text)
    assert "Apply now" in page
    assert "Apply at next window" not in page
    page = text_of(make_app(engine, calls, window=closed).test_client().get("/").text)
    assert "Apply at next window" in page
    assert "Apply now" not in page


def test_one_play_on_the_analytics_page_is_one_play(engine: Engine) -> None:
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(
            [Scrobble(utc("2022-02-02T10:00:00"), "Björk", "Jóga", "Homogenic")]), "test")
    app = create_app(WebDeps(engine=engine, health=lambda: Health(True),
                             analytics=AnalyticsSettings("alice", BERLIN, "north", RULES)))
    page = text_of(app.test_client().get("/analytics").text)
    assert "· 1 play · longest streak 1 day (2022-02-02 to 2022-02-02)" in page
