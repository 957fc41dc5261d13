"""The status page through Flask's test client: every page and JSON endpoint, decisions into
the store, CSRF, escaping of hostile track names, and secrets kept out of every response.

`build_store` fills a store with a small library, scrobbles and decisions (queued tracks with
suggestions, matches, one hostile name); tests/test_browser.py drives the same data in Chromium.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from daemon.scrobble import Scrobble, with_ordinals
from daemon.service.health import Health
from daemon.store import matches, pagestats, tracks
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from daemon.web import WebDeps, create_app

XSS_ARTIST = '<script>alert("xss-artist")</script>'
XSS_TITLE = '"><img src=x onerror=alert(1)>'
API_KEY = "0123456789abcdef0123456789abcdef"
PLEX_TOKEN = "plex-token-SECRET-42"
T0 = 1_700_000_000

# rating_key, title, album_artist, track_artist, album, year
LIBRARY = [
    (101, "Yesterday", "The Beatles", "", "Help!", 1965),
    (102, "Help!", "The Beatles", "", "Help!", 1965),
    (103, "Let It Be", "The Beatles", "", "Let It Be", 1970),
    (104, "Let It Be (Live)", "The Beatles", "", "Anthology 3", 1996),
    (201, "Waterloo", "ABBA", "", "Waterloo", 1974),
    (202, "Dancing Queen", "ABBA", "", "Arrival", 1976),
    (301, "Jóga", "Björk", "", "Homogenic", 1997),
    (302, "Hyperballad", "Björk", "", "Post", 1995),
    (401, XSS_TITLE, XSS_ARTIST, "", "<b>bold album</b>", 2001),
]

# artist, title, album, plays, decision: (status, rating_key, reason, suggestions)
SCROBBLED: list[tuple[str, str, str, int, tuple[str, int | None, str | None,
                                                  tuple[tuple[int, int], ...]]]] = [
    ("The Beatles", "Yesterday", "Help!", 9, ("auto", 101, None, ())),
    ("The Beatles", "Let It Be - Live", "", 7,
     ("queued", None, "different version", ((104, 92), (103, 80)))),
    ("ABBA", "Waterlo", "Waterloo", 6, ("queued", None, "close title", ((201, 95), (202, 40)))),
    ("Bjork", "Joga", "Homogenic", 5, ("queued", None, "close title", ((301, 88),))),
    ("Unknown Band", "Song A", "", 4, ("queued", None, "no artist in library", ())),
    ("Unknown Band", "Song B", "", 3, ("queued", None, "no artist in library", ())),
    (XSS_ARTIST, XSS_TITLE, "<b>bold album</b>", 2,
     ("queued", None, "close title", ((401, 91),))),
    ("ABBA", "Dancing Queen", "Arrival", 2, ("auto", 202, None, ())),
]


def build_store(engine: Engine, user: str = "alice", key_offset: int = 0, *,
                refresh: bool = True) -> dict[str, int]:
    """Fill the store (library, scrobbles, decisions, and the cached counts unless not
    `refresh`); return track ids by title. `key_offset` moves the library's rating keys (to
    add to another library)."""
    with write(engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO library_tracks (rating_key, section_id, title, album_artist,"
            " track_artist, album, album_year, refreshed_at) VALUES (?, 1, ?, ?, ?, ?, ?, 0)",
            [(key + key_offset, *rest) for key, *rest in LIBRARY])
        plays = [Scrobble(T0 + i * 1000 + n, artist, title, album)
                 for i, (artist, title, album, count, _d) in enumerate(SCROBBLED)
                 for n in range(count)]
        scrobble_queries.insert_rows(conn, user, with_ordinals(plays), "test")
        tracks.fold_new_scrobbles(conn)
        titles = [title for _a, title, *_rest in SCROBBLED]
        ids = {title: int(i) for i, title in conn.exec_driver_sql(
            "SELECT id, title FROM scrobbled_tracks") if title in titles}
        matches.save_decisions(conn, [
            matches.Decision(ids[title], status, key + key_offset if key else None,
                             "exact" if key else None, reason, (),
                             tuple((k + key_offset, score) for k, score in suggestions))
            for _a, title, _al, _n, (status, key, reason, suggestions) in SCROBBLED], "auto")
    if refresh:
        pagestats.refresh(engine, [user])
    return ids


@dataclass
class Calls:
    triggered: list[str] = field(default_factory=list)
    changed: int = 0


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return build_store(engine)


@pytest.fixture
def calls() -> Calls:
    return Calls()


def make_app(engine: Engine, calls: Calls, **overrides: Any) -> Flask:
    def trigger(name: str) -> bool:
        calls.triggered.append(name)
        return name in ("pull", "match", "apply")

    def changed() -> None:
        calls.changed += 1

    settings: dict[str, Any] = {
        "engine": engine, "health": lambda: Health(True), "trigger": trigger,
        "jobs": ("pull", "match", "apply"), "users": ("alice",), "stats_changed": changed,
        "secrets": (API_KEY, PLEX_TOKEN),
    }
    settings.update(overrides)
    return create_app(WebDeps(**settings))


@pytest.fixture
def client(engine: Engine, ids: dict[str, int], calls: Calls) -> FlaskClient:
    return make_app(engine, calls).test_client()


def token(client: FlaskClient) -> str:
    found = client.get("/api/csrf").json
    assert found is not None
    return str(found["csrf_token"])


def post(client: FlaskClient, url: str, **data: Any) -> Any:
    return client.post(url, json=data, headers={"X-CSRF-Token": token(client)})


def status_of(engine: Engine, track_id: int) -> tuple[str, int | None] | None:
    with engine.connect() as conn:
        return matches.current(conn, [track_id]).get(track_id)


PAGES = ["/", "/queue", "/matches", "/library", "/history", "/queue?artist=ABBA",
         "/queue?skipped=1", "/matches?status=all&sort=artist&q=beat",
         "/matches?status=queued&origin=auto", "/library?sort=artist&unplayed=1",
         "/library?q=bjor", "/queue?search_for=1&lq=let+it", "/matches?change=1&lq=water"]
ENDPOINTS = ["/api/dashboard", "/api/queue", "/api/matches", "/api/library", "/api/history",
             "/api/library/search?q=let", "/api/queue/bulk-preview?min_score=90", "/api/csrf",
             "/api/matches?status=all&artist=ABBA&page=2", "/api/library?q=beatles&sort=plays"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    html = response.get_data(as_text=True)
    assert "<script>" not in html.replace('<script src="/static/plexfm.js" defer></script>', "")
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", html), "inline event handler"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_json_endpoint_answers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.is_json


def test_dashboard_shows_the_cached_counts(client: FlaskClient) -> None:
    data = client.get("/api/dashboard").json
    assert data is not None
    stats = data["stats"]
    assert stats["scrobbles"] == sum(row[3] for row in SCROBBLED)
    assert stats["queued"] == 6
    assert stats["matched_tracks"] == 2
    assert stats["matched_share_plays"] == round(100 * 11 / 38, 1)
    assert [job["name"] for job in data["jobs"]][:3] == ["pull", "match", "apply"]
    assert data["backfill"][0]["user"] == "alice"


def test_queue_is_most_played_first_with_suggestions(client: FlaskClient) -> None:
    data = client.get("/api/queue").json
    assert data is not None
    items = data["items"]
    assert [i["title"] for i in items][:3] == ["Let It Be - Live", "Waterlo", "Joga"]
    first = items[0]
    assert first["reason"] == "different version"
    assert [(s["rating_key"], s["score"]) for s in first["suggestions"]] == [(104, 92), (103, 80)]
    assert first["suggestions"][0]["track"]["title"] == "Let It Be (Live)"
    assert data["total"] == 6


def test_queue_next_page_seeks_after_the_last_row(client: FlaskClient) -> None:
    first = client.get("/api/queue?per_page=2").json
    assert first is not None
    assert first["has_next"]
    by_offset = client.get("/api/queue?per_page=2&page=2").json
    by_seek = client.get(f"/api/queue?per_page=2&page=2&after={first['next_after']}").json
    assert by_offset is not None
    assert by_seek is not None
    assert [i["track_id"] for i in by_seek["items"]] == [i["track_id"] for i in by_offset["items"]]
    assert by_seek["total"] == first["total"]
    html = client.get("/queue?per_page=2").get_data(as_text=True)
    assert f"after={first['next_after']}" in html


def test_library_search_finds_by_prefix_and_diacritics(client: FlaskClient) -> None:
    def search(q: str) -> list[int]:
        found = client.get(f"/api/library/search?q={q}").json
        assert found is not None
        return [t["rating_key"] for t in found["items"]]

    assert set(search("beat let")) == {103, 104}
    assert search("bjork jog") == [301]
    assert search("jóga") == [301]
    assert set(search("abba")) == {201, 202}
    assert search("") == []
    assert search('"*') == []


def test_static_assets_are_served_locally(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assert sorted(assets) == ["/static/favicon.svg", "/static/plexfm.css", "/static/plexfm.js"]
    for asset in assets:
        assert client.get(asset).status_code == 200
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html)


@pytest.mark.reliability("input", "hostile web requests")
def test_dns_rebinding_host_is_refused_on_localhost(client: FlaskClient) -> None:
    assert client.get("/", headers={"Host": "evil.example:8411"}).status_code == 403
    assert client.get("/", headers={"Host": "127.0.0.1:8411"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 200


def test_weak_suggestions_are_hidden_and_plays_and_scores_labelled(engine: Engine) -> None:
    ids = build_store(engine)
    with write(engine) as conn:  # an artist Plex lacks: only unrelated titles come close
        matches.save_decisions(conn, [matches.Decision(
            ids["Song A"], "queued", None, None, "no artist in library", (),
            ((101, 61), (102, 50), (201, 48), (202, 47), (301, 45)))], "auto")
    client = make_app(engine, Calls()).test_client()
    items = {i["title"]: i for i in client.get("/api/queue").json["items"]}
    assert items["Song A"]["suggestions"] == []
    assert items["Song A"]["weak_suggestions"] == 5
    assert [s["score"] for s in items["Waterlo"]["suggestions"]] == [95]  # 40 is under the floor
    html = client.get("/queue").get_data(as_text=True)
    cards = {re.sub(r"<[^>]+>", "", c.split('class="q-title">')[1].split("<")[0]): c
             for c in html.split("<article")[1:]}

    def text(card: str) -> str:
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card))

    assert "no close candidate" in text(cards["Song A"]).lower()
    assert "Accept" not in cards["Song A"]
    assert "4 plays" in text(cards["Song A"])
    assert "score 95" in text(cards["Waterlo"])
    assert 'class="primary"' in cards["Waterlo"]  # a strong candidate: the bright button
    assert "score 88" in text(cards["Joga"])
    assert 'class="primary"' not in cards["Joga"]  # a plausible one: a plain button
