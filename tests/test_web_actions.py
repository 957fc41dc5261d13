"""The status page's decisions through Flask's test client: into the store only, CSRF on every
POST, hostile track names escaped, secrets never in a response; the background count refresh."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import matches, pagestats, tracks
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from daemon.web.refresh import StatsRefresher
from tests.test_web import (
    API_KEY,
    ENDPOINTS,
    PAGES,
    PLEX_TOKEN,
    XSS_ARTIST,
    XSS_TITLE,
    Calls,
    build_store,
    make_app,
    post,
    status_of,
    token,
)


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return build_store(engine)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def client(engine: Engine, ids: dict[str, int], calls: Calls) -> FlaskClient:
    return make_app(engine, calls).test_client()


def test_accept_a_suggestion_goes_to_the_store_only(client: FlaskClient, engine: Engine,
                                                    ids: dict[str, int], calls: Calls) -> None:
    response = post(client, f"/api/tracks/{ids['Waterlo']}/accept", rating_key=201)
    assert response.status_code == 200
    assert response.json["ok"] is True
    assert status_of(engine, ids["Waterlo"]) == ("manual", 201)
    assert calls.changed == 1
    with engine.connect() as conn:
        origin = conn.exec_driver_sql("SELECT origin FROM match_history WHERE track_id = ?"
                                      " ORDER BY id DESC", (ids["Waterlo"],)).scalar()
    assert origin == "user"
    queue = client.get("/api/queue").json
    assert queue is not None
    assert "Waterlo" not in [i["title"] for i in queue["items"]]


@pytest.mark.reliability("input", "hostile web requests")
def test_accept_refuses_unknown_tracks(client: FlaskClient, ids: dict[str, int]) -> None:
    assert post(client, f"/api/tracks/{ids['Waterlo']}/accept", rating_key=999).status_code \
        == 404
    assert post(client, "/api/tracks/99999/accept", rating_key=201).status_code == 404
    response = post(client, f"/api/tracks/{ids['Waterlo']}/accept", rating_key="x")
    assert response.status_code == 400


def test_not_in_library_skip_and_unskip(client: FlaskClient, engine: Engine,
                                        ids: dict[str, int]) -> None:
    post(client, f"/api/tracks/{ids['Song A']}/not-in-library")
    assert status_of(engine, ids["Song A"]) == ("not_in_library", None)
    post(client, f"/api/tracks/{ids['Song B']}/skip", days=3)
    assert status_of(engine, ids["Song B"]) == ("queued", None)  # not a decision
    queue = client.get("/api/queue").json
    skipped = client.get("/api/queue?skipped=1").json
    assert queue is not None
    assert skipped is not None
    assert "Song B" not in [i["title"] for i in queue["items"]]
    assert [i["title"] for i in skipped["items"]] == ["Song B"]
    post(client, f"/api/tracks/{ids['Song B']}/unskip")
    queue = client.get("/api/queue").json
    assert queue is not None
    assert "Song B" in [i["title"] for i in queue["items"]]


def queue_more(engine: Engine, *decisions: tuple[str, str, tuple[tuple[int, int], ...]]) -> \
        dict[str, int]:
    """Queue more of ABBA's tracks: (title, reason, suggestions) each; their ids by title."""
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(
            [Scrobble(1_600_000_000 + i, "ABBA", title, "") for i, (title, *_r)
             in enumerate(decisions)]), "test")
        tracks.fold_new_scrobbles(conn)
        ids = {str(t): int(i) for i, t in conn.exec_driver_sql(
            "SELECT id, title FROM scrobbled_tracks WHERE artist = 'ABBA'")}
        matches.save_decisions(conn, [matches.Decision(ids[title], "queued", None, None, reason,
                                                       (), suggestions)
                                      for title, reason, suggestions in decisions], "auto")
    return ids


def test_bulk_accept_never_matches_another_recording(client: FlaskClient, engine: Engine,
                                                     ids: dict[str, int]) -> None:
    more = queue_more(engine,
                      ("Dancing Queen - Live", "ambiguous", ((202, 100),)),  # which take?
                      ("Waterloo - Remix", "artist known, title not found", ((201, 96),)),
                      ("SOS", "match removed by you", ((201, 99),)))  # the user said no
    preview = client.get("/api/queue/bulk-preview?min_score=90").json
    assert preview == {
        "min_score": 90, "tracks": 2, "by_reason": {"close title": 2},
        "excluded": {"different version": 1, "ambiguous": 1, "another recording suggested": 1,
                     "match removed by you": 1}}
    response = post(client, "/api/queue/bulk-accept", min_score=90)
    assert response.json["accepted"] == 2
    assert "left 4 for you" in response.json["message"]
    assert status_of(engine, ids["Waterlo"]) == ("manual", 201)
    assert status_of(engine, ids[XSS_TITLE]) == ("manual", 401)
    assert status_of(engine, ids["Joga"]) == ("queued", None)  # 88 < 90
    for title in ("Let It Be - Live", "Dancing Queen - Live", "Waterloo - Remix", "SOS"):
        assert status_of(engine, {**ids, **more}[title]) == ("queued", None), title
    assert client.get("/api/queue/bulk-preview?min_score=85&artist=Bjork").json["by_reason"] \
        == {"close title": 1}


def test_bulk_not_in_library(client: FlaskClient, engine: Engine, ids: dict[str, int]) -> None:
    response = post(client, "/api/queue/bulk-not-in-library", artist="Unknown Band")
    assert response.json["marked"] == 2
    assert status_of(engine, ids["Song A"]) == ("not_in_library", None)
    assert status_of(engine, ids["Song B"]) == ("not_in_library", None)
    assert post(client, "/api/queue/bulk-not-in-library", artist="").status_code == 400


def test_remove_change_and_undo_a_match(client: FlaskClient, engine: Engine,
                                        ids: dict[str, int], calls: Calls) -> None:
    yesterday = ids["Yesterday"]
    post(client, f"/api/tracks/{yesterday}/requeue")
    assert status_of(engine, yesterday) == ("queued", None)
    post(client, f"/api/tracks/{yesterday}/accept", rating_key=102)
    assert status_of(engine, yesterday) == ("manual", 102)
    rows = client.get("/api/matches?origin=manual").json
    assert rows is not None
    assert [r["title"] for r in rows["items"]] == ["Yesterday"]
    assert rows["items"][0]["track"]["title"] == "Help!"
    response = post(client, f"/api/tracks/{yesterday}/undo")
    assert response.json["was"] == "manual"
    assert status_of(engine, yesterday) is None
    assert "match" in calls.triggered  # the rules decide it again


def test_jobs_and_apply_buttons(client: FlaskClient, calls: Calls) -> None:
    assert post(client, "/api/jobs/pull/run").json["started"] is True
    assert post(client, "/api/jobs/match/run").status_code == 200
    assert post(client, "/api/jobs/library/run").status_code == 409  # not enabled here
    assert post(client, "/api/jobs/rm-rf/run").status_code == 404
    assert calls.triggered == ["pull", "match", "library"]
    assert post(client, "/api/apply").status_code == 409  # no window in this app


def test_apply_at_next_window(engine: Engine, ids: dict[str, int], calls: Calls) -> None:

    now = datetime.now().astimezone()
    closed = ((now + timedelta(hours=2)).time(), (now + timedelta(hours=3)).time())
    app = make_app(engine, calls, window=closed)
    answer = post(app.test_client(), "/api/apply").json
    assert answer["applying"] is False
    assert "next window" in answer["message"]
    assert calls.triggered == []
    opened = ((now - timedelta(minutes=5)).time(), (now + timedelta(minutes=50)).time())
    answer = post(make_app(engine, calls, window=opened).test_client(), "/api/apply").json
    assert answer["applying"] is True
    assert calls.triggered == ["apply"]


def test_forms_without_javascript_redirect_back_with_a_message(
    client: FlaskClient, engine: Engine, ids: dict[str, int]
) -> None:
    csrf = token(client)
    response = client.post(f"/api/tracks/{ids['Joga']}/accept",
                           data={"csrf_token": csrf, "rating_key": "301", "next": "/queue"},
                           headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/queue"
    assert status_of(engine, ids["Joga"]) == ("manual", 301)
    page = client.get("/queue").get_data(as_text=True)
    assert "Matched Bjork \N{EN DASH} Joga to Jóga" in page
    evil = client.post(f"/api/tracks/{ids['Song A']}/skip",
                       data={"csrf_token": csrf, "next": "//evil.example/"})
    assert evil.headers["Location"] == "/"  # no open redirect


@pytest.mark.parametrize("url", ["/api/tracks/{id}/accept", "/api/tracks/{id}/not-in-library",
                                 "/api/queue/bulk-accept", "/api/jobs/pull/run", "/api/apply"])
@pytest.mark.reliability("input", "hostile web requests")
def test_csrf_missing_is_400_wrong_is_403_and_nothing_changes(
    client: FlaskClient, engine: Engine, ids: dict[str, int], calls: Calls, url: str
) -> None:
    target = url.format(id=ids["Waterlo"])
    fields = {"rating_key": "201", "min_score": "0"}
    token(client)  # the session has a token; the requests below do not carry it
    assert client.post(target, data=fields).status_code == 400
    assert client.post(target, data={**fields, "csrf_token": "forged"}).status_code == 403
    assert client.post(target, json=fields, headers={"X-CSRF-Token": "x" * 43}).status_code \
        == 403
    other = make_app(engine, calls).test_client()  # another browser's token
    assert client.post(target, data={**fields, "csrf_token": token(other)}).status_code == 403
    assert status_of(engine, ids["Waterlo"]) == ("queued", None)
    assert calls.triggered == []
    assert calls.changed == 0


@pytest.mark.reliability("input", "hostile web requests")
def test_hostile_track_names_are_escaped_everywhere(client: FlaskClient,
                                                    ids: dict[str, int]) -> None:
    for path in ["/queue", "/matches?status=all", "/library?sort=artist", "/history",
                 f"/queue?search_for={ids[XSS_TITLE]}&lq=bold"]:
        html = client.get(path).get_data(as_text=True)
        assert XSS_ARTIST not in html, path
        assert "<img src=x" not in html, path
        assert "<b>bold album</b>" not in html, path
        assert "&lt;script&gt;alert(&#34;xss-artist&#34;)&lt;/script&gt;" in html or \
            "&lt;img src=x onerror=alert(1)&gt;" in html, path
    found = client.get("/api/library/search?q=bold").json
    assert found is not None
    assert found["items"][0]["title"] == XSS_TITLE  # JSON carries the raw text, as JSON


def test_secrets_never_leave_in_a_response(engine: Engine, ids: dict[str, int],
                                           calls: Calls) -> None:
    with write(engine) as conn:  # even if a secret reached the store (it must not)
        conn.exec_driver_sql(
            "INSERT INTO job_runs (job, trigger, started_at, finished_at, outcome, error)"
            f" VALUES ('pull', 'x', 1, 2, 'error', 'bad key {API_KEY} token {PLEX_TOKEN}')")
    client = make_app(engine, calls).test_client()
    for path in [*PAGES, *ENDPOINTS, "/healthz", "/metrics"]:
        body = client.get(path).get_data()
        assert API_KEY.encode() not in body, path
        assert PLEX_TOKEN.encode() not in body, path
    assert b"********" in client.get("/").get_data()


def test_background_refresh_coalesces_and_fills_the_cache(
        engine: Engine, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    with write(engine) as conn:
        conn.exec_driver_sql("DELETE FROM page_stats")
    # the first refresh is held while the other requests arrive, so they must coalesce into
    # exactly one more (unheld, a loaded machine could finish each refresh before the next
    # request: 5 refreshes)
    running, release = threading.Event(), threading.Event()
    real_refresh = pagestats.refresh

    def held_refresh(*args: Any, **kwargs: Any) -> Any:
        running.set()
        assert release.wait(30)
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(pagestats, "refresh", held_refresh)
    refresher = StatsRefresher(engine, ["alice"], min_interval=0)
    refresher.request()
    assert running.wait(30)
    for _ in range(4):
        refresher.request()
    release.set()
    assert refresher.wait_idle(timeout=30)
    assert refresher.refreshes == 2  # the one running, then one for the four that waited
    with engine.connect() as conn:
        stats, refreshed = pagestats.load(conn)
    assert stats is not None
    assert stats["queued"] == 6
    assert refreshed is not None
