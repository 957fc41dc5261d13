"""Tests of the fake last.fm server and the history generator (tests/fakes)."""

from __future__ import annotations

import itertools
import json
import math
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3

from daemon.scrobble import Scrobble
from tests.fakes.history_gen import generate_history
from tests.fakes.lastfm_server import (
    DEFAULT_API_KEY,
    FIXTURE_FILES,
    MSG_RATE_LIMIT,
    RECORDED_USER,
    FakeLastfm,
    fixture_path,
    fixture_scrobbles,
    fixture_tracks,
    load_recorded_user,
    parse_track,
)

ROOT = Path(__file__).resolve().parent.parent
ALICE = generate_history(2500, seed=3)


def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true or fail at the deadline (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not met before the deadline")
        threading.Event().wait(0.01)


@pytest.fixture
def fake() -> Iterator[FakeLastfm]:
    server = FakeLastfm()
    server.add_user("alice", ALICE)
    with server:
        yield server


class Client:
    """POSTs like our client does; ``get`` uses a query string instead."""

    def __init__(self, fake: FakeLastfm) -> None:
        self.url = fake.url
        self.session = requests.Session()

    def post(self, method: str = "user.getRecentTracks", timeout: float = 5, **params: Any
             ) -> requests.Response:
        form = {"method": method, "api_key": DEFAULT_API_KEY, "format": "json", **params}
        return self.session.post(self.url, data=form, timeout=timeout)

    def get(self, **params: Any) -> requests.Response:
        query = {"api_key": DEFAULT_API_KEY, "format": "json", **params}
        return self.session.get(self.url, params=query, timeout=5)

    def page(self, **params: Any) -> dict[str, Any]:
        response = self.post(user=params.pop("user", "alice"), **params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["recenttracks"]
        return result


@pytest.fixture
def client(fake: FakeLastfm) -> Iterator[Client]:
    c = Client(fake)
    yield c
    c.session.close()


def _scrobbles(page: dict[str, Any]) -> list[Scrobble]:
    tracks = page["track"]
    tracks = [tracks] if isinstance(tracks, dict) else tracks
    return [parse_track(t) for t in tracks if "date" in t]


def _error(response: requests.Response) -> tuple[int, int, str]:
    body = response.json()
    assert list(body)[:2] == ["message", "error"]
    assert isinstance(body["error"], int)
    return response.status_code, body["error"], body["message"]


# -- paging, windows, shapes -----------------------------------------------------------------


def test_pages_cover_history_newest_first(client: Client) -> None:
    got: list[Scrobble] = []
    for page_no in (1, 2, 3):
        page = client.page(limit=1000, page=page_no)
        assert page["@attr"] == {"user": "alice", "totalPages": "3", "page": str(page_no),
                                 "perPage": "1000", "total": "2500"}
        got += _scrobbles(page)
    assert [s[:7] for s in got] == [s[:7] for s in ALICE]
    assert [s.uts for s in got] == sorted((s.uts for s in got), reverse=True)


def test_default_limit_and_page_past_end(client: Client) -> None:
    page = client.page()
    assert len(page["track"]) == 50
    assert page["@attr"]["perPage"] == "50"
    assert page["@attr"]["totalPages"] == str(math.ceil(2500 / 50))
    past = client.page(limit=1000, page=7)
    assert past["track"] == []
    assert past["@attr"] == {"user": "alice", "totalPages": "3", "page": "7",
                             "perPage": "1000", "total": "2500"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "limit param out of bounds (1-1000)"),
        ({"limit": 1001}, "limit param out of bounds (1-1000)"),
        ({"limit": "many"}, "limit param out of bounds (1-1000)"),
        ({"page": 0}, "page param out of bounds (1-1000000)"),
        ({"page": 1_000_001}, "page param out of bounds (1-1000000)"),
    ],
)
def test_limit_and_page_bounds(client: Client, params: dict[str, Any], message: str) -> None:
    assert _error(client.post(user="alice", **params)) == (400, 6, message)


def test_max_limit_is_configurable(fake: FakeLastfm, client: Client) -> None:
    fake.max_limit = 200
    assert _error(client.post(user="alice", limit=201)) == (
        400, 6, "limit param out of bounds (1-200)")
    assert len(client.page(limit=200)["track"]) == 200


def test_window_is_half_open(client: Client) -> None:
    hi, lo = ALICE[100].uts, ALICE[400].uts
    expected = [s for s in ALICE if lo <= s.uts < hi]
    page = client.page(limit=1000, **{"from": lo, "to": hi})
    assert [s[:7] for s in _scrobbles(page)] == [s[:7] for s in expected]
    assert page["@attr"]["total"] == str(len(expected))
    assert _scrobbles(page)[0].uts < hi
    assert _scrobbles(page)[-1].uts == lo
    empty = client.page(**{"from": hi, "to": hi})
    assert empty["track"] == []
    assert (empty["@attr"]["total"], empty["@attr"]["totalPages"]) == ("0", "0")


def test_legacy_zero_uts_items_are_served_last(client: Client) -> None:
    page = client.page(limit=10, page=250)
    assert [s.uts for s in _scrobbles(page)][-5:] == [0] * 5
    assert client.page(**{"from": 0, "to": 1})["@attr"]["total"] == "5"


def test_same_second_items_are_served_in_a_stable_order(fake: FakeLastfm) -> None:
    a = Scrobble(1000, "A", "Song", "LP")
    b = Scrobble(1000, "B", "Other", "")
    history = [Scrobble(1001, "C", "x"), a, b, a, a, Scrobble(999, "D", "y")]
    fake.add_user("ipod", history)
    client = Client(fake)
    bodies = {client.post(user="ipod", limit=2, page=p).text for p in (2, 2, 2)}
    assert len(bodies) == 1
    walked = [s for p in (1, 2, 3) for s in _scrobbles(client.page(user="ipod", limit=2, page=p))]
    assert [s[:4] for s in walked] == [s[:4] for s in history]
    assert fake.scrobbles("ipod") == history


def test_item_shape_matches_the_real_capture(client: Client) -> None:
    response = client.post(user="alice", limit=5)
    assert '"https:\\/\\/www.last.fm\\/music\\/' in response.text
    assert response.headers["Content-Type"] == "application/json"
    real = fixture_tracks(FIXTURE_FILES[0])[0]
    for item in response.json()["recenttracks"]["track"]:
        assert list(item) == list(real)
        assert list(item["artist"]) == ["mbid", "#text"]
        assert list(item["album"]) == ["mbid", "#text"]
        assert item["streamable"] == "0"
        assert [i["size"] for i in item["image"]] == ["small", "medium", "large", "extralarge"]
        uts = int(item["date"]["uts"])
        assert item["date"]["#text"] == time.strftime("%d %b %Y, %H:%M", time.gmtime(uts))
    body = response.json()["recenttracks"]
    assert list(body) == ["track", "@attr"]
    assert all(isinstance(v, str) for v in body["@attr"].values())


def test_extended_shape_and_loved(fake: FakeLastfm, client: Client) -> None:
    loved = Scrobble(2000, "Ärtist", "Löved", "Album", "", "", "", 1)
    fake.add_user("bob", [loved, loved._replace(uts=1000, loved=0)])
    items = client.page(user="bob", extended=1)["track"]
    assert [i["loved"] for i in items] == ["1", "0"]
    artist = items[0]["artist"]
    assert list(artist) == ["url", "mbid", "image", "name"]
    assert artist["name"] == "Ärtist"
    assert artist["url"] == "https://www.last.fm/music/%C3%84rtist"
    assert len(artist["image"]) == 4
    assert "loved" not in client.page(user="bob")["track"][0]


def test_now_playing_is_extra_on_page_one_only(fake: FakeLastfm, client: Client) -> None:
    playing = Scrobble(0, "Now", "Playing", "Live")
    fake.set_now_playing("alice", playing)
    page = client.page(limit=1)
    assert len(page["track"]) == 2
    first = page["track"][0]
    assert first["@attr"] == {"nowplaying": "true"}
    assert "date" not in first
    assert first["name"] == "Playing"
    assert page["@attr"]["total"] == "2500"
    assert len(client.page(limit=1, page=2)["track"]) == 1
    window = client.page(**{"from": 5, "to": 6})
    assert window["@attr"]["total"] == "0"
    assert [t["name"] for t in window["track"]] == ["Playing"]


def test_single_object_toggle(fake: FakeLastfm, client: Client) -> None:
    fake.set_now_playing("alice", Scrobble(0, "Now", "Playing"))
    assert isinstance(client.page(**{"from": 5, "to": 6})["track"], list)
    fake.single_object = True
    lone = client.page(**{"from": 5, "to": 6})["track"]
    assert isinstance(lone, dict)
    assert lone["@attr"] == {"nowplaying": "true"}
    one = client.page(page=2, limit=1)["track"]
    assert isinstance(one, dict)
    assert one["date"]["uts"] == str(ALICE[1].uts)
    assert client.page(**{"from": 6, "to": 6}, page=2)["track"] == []


def test_get_and_post_and_case_insensitive_method(client: Client) -> None:
    by_get = client.get(method="USER.GETRECENTTRACKS", user="ALICE", limit=3)
    by_post = client.post("User.getRecentTracks", user="alice", limit=3)
    assert by_get.status_code == by_post.status_code == 200
    assert by_get.json() == by_post.json()


def test_mutations_are_served(fake: FakeLastfm, client: Client) -> None:
    newest = ALICE[0].uts
    new = Scrobble(newest + 300, "New", "Arrival")
    backdated = Scrobble(ALICE[10].uts, "Late", "Upload")
    fake.add_scrobbles("alice", [new, backdated])
    truth = fake.scrobbles("alice")
    assert truth[0] == new
    assert truth.index(backdated) > 10
    assert _scrobbles(client.page(limit=1))[0][:3] == new[:3]
    got = [s for p in (1, 2, 3) for s in _scrobbles(client.page(limit=1000, page=p))]
    assert [s[:4] for s in got] == [s[:4] for s in truth]
    assert fake.delete_scrobble("alice", new)
    assert not fake.delete_scrobble("alice", new)
    assert client.page(limit=1)["@attr"]["total"] == "2501"


def test_many_added_scrobbles_merge_in_order(fake: FakeLastfm) -> None:
    extra = generate_history(300, seed=9, legacy=0)
    fake.add_scrobbles("alice", extra)
    truth = fake.scrobbles("alice")
    assert len(truth) == 2800
    assert [s.uts for s in truth] == sorted((s.uts for s in truth), reverse=True)
    assert Counter(truth) == Counter(ALICE) + Counter(extra)


# -- replay of the recorded captures ---------------------------------------------------------


def test_replayed_user_serves_the_recorded_items(fake: FakeLastfm, client: Client) -> None:
    history = fake.add_recorded_user()
    assert len(history) == 400
    assert history == load_recorded_user(FakeLastfm())
    newer, older = (client.post(user=RECORDED_USER, limit=200, page=p) for p in (1, 2))
    for response, name in ((newer, FIXTURE_FILES[1]), (older, FIXTURE_FILES[0])):
        raw = fixture_path(name).read_bytes()
        cut = raw.index(b'],"@attr"')
        assert response.content[:cut] == raw[:cut]  # byte for byte
        assert response.json()["recenttracks"]["@attr"]["total"] == "400"
    window = client.page(user=RECORDED_USER, limit=200, **{"from": 1783050940, "to": 1783056851})
    assert window["track"] == fixture_tracks(FIXTURE_FILES[2])
    assert window["@attr"] == {"user": RECORDED_USER, "totalPages": "1", "page": "1",
                               "perPage": "200", "total": "6"}


def test_fixture_helpers_parse_items() -> None:
    scrobbles, playing = fixture_scrobbles(FIXTURE_FILES[1])
    assert playing is None
    assert len(scrobbles) == 200
    assert scrobbles[0] == Scrobble(1783063531, "Tito Puente", "Mambo Gozon", "Hoy Y Ayer",
                                    "f19ad155-d809-4770-ab8d-7579467d9f55", "",
                                    "6c47ec4e-8a52-4327-92f8-d7cdb54a90c9", None)
    assert [s.uts for s in scrobbles] == sorted((s.uts for s in scrobbles), reverse=True)
    assert parse_track({"@attr": {"nowplaying": "true"}, "artist": {"name": "X", "mbid": ""},
                        "name": "T", "album": {"#text": "", "mbid": ""}, "loved": "1"}) == (
        Scrobble(0, "X", "T", "", "", "", "", 1))


# -- errors ----------------------------------------------------------------------------------


def test_auth_and_method_errors(fake: FakeLastfm, client: Client) -> None:
    missing = client.session.post(fake.url, data={"method": "user.getrecenttracks",
                                                  "user": "alice", "format": "json"})
    assert _error(missing) == (
        400, 6, "Invalid parameters - Your request is missing a required parameter")
    assert _error(client.post(user="alice", api_key="nope")) == (
        403, 10, "Invalid API key - You must be granted a valid key by last.fm")
    fake.suspended_keys.add("old-key")
    assert _error(client.post(user="alice", api_key="old-key"))[:2] == (403, 26)
    assert _error(client.post("user.getNothing", user="alice"))[:2] == (400, 3)
    xml = client.post(user="alice", format="xml")
    assert xml.status_code == 400
    assert xml.text.startswith("<?xml")
    assert client.session.get(fake.url.replace("/2.0/", "/3.0/"), timeout=5).status_code == 404
    assert client.session.get(fake.url.rstrip("/"), params={
        "method": "user.getinfo", "user": "alice", "api_key": DEFAULT_API_KEY,
        "format": "json"}, timeout=5).status_code == 200


def test_user_errors(fake: FakeLastfm, client: Client) -> None:
    fake.add_user("hidden", ALICE[:5], private=True)
    assert _error(client.post(user="nobody")) == (404, 6, "User not found")
    assert _error(client.post(user="hidden")) == (
        403, 17, "Login: User required to be logged in")
    assert _error(client.post())[:2] == (400, 6)
    assert _error(client.post("user.getInfo", user="nobody"))[:2] == (404, 6)


def test_user_info(fake: FakeLastfm, client: Client) -> None:
    fake.add_user("carol", ALICE[:10], registered=1_200_017_507, extra_playcount=5)
    user = client.post("user.getInfo", user="carol").json()["user"]
    assert user["name"] == "carol"
    assert user["playcount"] == "15"
    assert user["registered"] == {"unixtime": "1200017507", "#text": 1200017507}
    assert user["url"] == "https://www.last.fm/user/carol"


def test_top_tags(fake: FakeLastfm, client: Client) -> None:
    fake.set_artist_tags("Audioslave", [("rock", 100), ("alternative rock", 78)])
    fake.set_artist_tags("Solo", [("jazz", 100)])
    fake.set_track_tags("AC/DC", "Hells Bells", [("hard rock", 100), ("classic rock", 61)])
    tags = client.post("artist.getTopTags", artist="audioslave").json()["toptags"]
    assert tags["@attr"] == {"artist": "Audioslave"}
    assert tags["tag"][0] == {"count": 100, "name": "rock", "url": "https://www.last.fm/tag/rock"}
    assert tags["tag"][1]["count"] == 78
    assert isinstance(client.post("artist.getTopTags", artist="Solo").json()["toptags"]["tag"],
                      dict)
    known = ALICE[0].artist
    assert client.post("artist.getTopTags", artist=known).json()["toptags"]["tag"] == []
    unknown = client.post("artist.getTopTags", artist="No Such Band")
    assert _error(unknown) == (200, 6, "The artist you supplied could not be found")
    track = client.post("track.getTopTags", artist="AC/DC", track="Hells Bells").json()
    assert track["toptags"]["@attr"] == {"artist": "AC/DC", "track": "Hells Bells"}
    assert [t["count"] for t in track["toptags"]["tag"]] == [100, 61]
    assert client.post("track.getTopTags", artist=known, track=ALICE[0].title
                       ).json()["toptags"]["tag"] == []
    assert _error(client.post("track.getTopTags", artist=known, track="Nope"))[:2] == (200, 6)
    fake.auto_tags = True
    auto = client.post("artist.getTopTags", artist=known).json()["toptags"]["tag"]
    assert auto == client.post("artist.getTopTags", artist=known).json()["toptags"]["tag"]
    assert ([auto] if isinstance(auto, dict) else auto)[0]["count"] == 100


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("error8", 500, 8), ("error11", 503, 11), ("error16", 500, 16), ("error29", 429, 29)],
)
def test_error_faults(fake: FakeLastfm, client: Client, kind: str, status: int, code: int
                      ) -> None:
    fault = fake.faults.add(kind)
    assert _error(client.post(user="alice"))[:2] == (status, code)
    assert client.post(user="alice").status_code == 200
    assert fault.fired == 1
    assert fake.requests[0].fault == kind
    assert fake.requests[0].error == code
    assert fake.faults.fired == [(kind, {"method": "user.getrecenttracks", "user": "alice",
                                         "format": "json"})]


def test_rate_limit_message_is_the_2026_one(fake: FakeLastfm, client: Client) -> None:
    fake.faults.add("error29", status=200)
    assert _error(client.post(user="alice")) == (200, 29, MSG_RATE_LIMIT)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_faults_have_html_bodies(fake: FakeLastfm, client: Client, status: int) -> None:
    fake.faults.add(f"http{status}")
    response = client.post(user="alice")
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/html"
    assert f"<h1>{status} " in response.text


def test_truncated_fault_cuts_a_valid_body(fake: FakeLastfm, client: Client) -> None:
    fake.faults.add("truncated")
    cut = client.post(user="alice", limit=10)
    whole = client.post(user="alice", limit=10)
    assert cut.status_code == 200
    assert whole.content.startswith(cut.content)
    assert 0 < len(cut.content) < len(whole.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)


def test_disconnect_fault(fake: FakeLastfm, client: Client) -> None:
    fake.faults.add("disconnect")
    with pytest.raises(requests.ConnectionError):
        client.post(user="alice")
    assert client.post(user="alice").status_code == 200


def test_user_not_found_fault_is_one_off(fake: FakeLastfm, client: Client) -> None:
    fake.faults.add("user_not_found", when=lambda p: p.get("page") == "2")
    assert client.page(page=1)
    assert _error(client.post(user="alice", page=2)) == (404, 6, "User not found")
    assert client.page(page=2)["@attr"]["page"] == "2"


def test_page_faults(fake: FakeLastfm, client: Client) -> None:
    fake.add_user("dave", ALICE[:30])
    fake.faults.add("empty_page", method="user.getRecentTracks")
    assert client.page(limit=1000, page=3)["track"]  # last page: not applicable
    empty = client.page(limit=1000, page=1)
    assert empty["track"] == []
    assert empty["@attr"]["total"] == "2500"
    fake.faults.add("total_drift", drift=3)
    assert client.page(limit=1000, page=2)["@attr"]["total"] == "2503"
    assert client.page(limit=1000, page=2)["@attr"]["total"] == "2500"
    fake.faults.add("wrong_user", user="dave")
    wrong = client.page(limit=10)
    assert wrong["@attr"]["user"] == "dave"
    assert [s[:4] for s in _scrobbles(wrong)] == [s[:4] for s in ALICE[:10]]
    assert wrong["@attr"]["total"] == "30"


def test_bad_uts_fault_serves_the_first_item_at_another_time(fake: FakeLastfm,
                                                            client: Client) -> None:
    fake.faults.add("bad_uts", uts=2**63)
    bad = client.page(limit=3)
    assert [t["date"]["uts"] for t in bad["track"]] == [str(2**63), *[str(s.uts) for s in
                                                                     ALICE[1:3]]]
    assert bad["@attr"]["total"] == "2500"
    assert client.page(limit=1)["track"][0]["date"]["uts"] == str(ALICE[0].uts)


def test_drip_faults_send_one_byte_at_a_time(fake: FakeLastfm, client: Client) -> None:
    fake.faults.add("drip", seconds=0.5)
    response = client.session.post(fake.url, data={"method": "user.getRecentTracks",
                                                   "api_key": DEFAULT_API_KEY,
                                                   "format": "json", "user": "alice"},
                                   stream=True, timeout=(1, 0.2))
    assert response.status_code == 200  # the head came at once
    assert response.raw.read(1) == b"{"
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):  # the next byte is late
        response.raw.read(2)
    fake.faults.add("drip_head", seconds=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post(user="alice", timeout=(1, 0.2))
    assert client.page(limit=1)["track"]


def test_huge_body_fault_streams_whitespace_before_the_page(fake: FakeLastfm,
                                                          client: Client) -> None:
    fake.faults.add("huge_body", size=(3 << 20) + 5)
    response = client.post(user="alice", limit=2)
    whole = client.post(user="alice", limit=2)
    assert int(response.headers["Content-Length"]) == (3 << 20) + 5 + len(whole.content)
    assert response.content == b" " * ((3 << 20) + 5) + whole.content
    assert response.json() == whole.json()


def test_gzip_bomb_fault_inflates_to_whitespace_before_the_page(fake: FakeLastfm,
                                                              client: Client) -> None:
    fake.faults.add("gzip_bomb", size=(64 << 20) + 3)
    response = client.session.post(fake.url, data={"method": "user.getRecentTracks",
                                                   "api_key": DEFAULT_API_KEY,
                                                   "format": "json", "user": "alice",
                                                   "limit": "2"}, stream=True, timeout=5)
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) < 128 << 10  # 64 MiB in under 128 KiB
    body = response.raw.read(decode_content=True)
    assert body.startswith(b" " * ((64 << 20) + 3) + b'{"recenttracks":')
    assert json.loads(body)["recenttracks"] == client.page(limit=2)


def test_wrong_user_without_other_users(client: Client, fake: FakeLastfm) -> None:
    fake.faults.add("wrong_user")
    assert client.page(limit=5)["@attr"]["user"] != "alice"


def test_fault_schedule_every_count_when_probability(fake: FakeLastfm, client: Client) -> None:
    fake.faults.add("error8", every=3, count=2, method="user.getrecenttracks")
    codes = [client.post(user="alice").status_code for _ in range(9)]
    assert codes == [200, 200, 500, 200, 200, 500, 200, 200, 200]
    fake.faults.add("error16", count=None, when=lambda p: p.get("page") == "7")
    assert client.post(user="alice", page=7).status_code == 500
    assert client.post(user="alice", page=6).status_code == 200
    fake.faults.clear()
    assert fake.faults.active == []
    with pytest.raises(ValueError, match="unknown fault kind"):
        fake.faults.add("gremlins")


def test_probability_faults_are_deterministic() -> None:
    def run() -> list[int]:
        with FakeLastfm(seed=7) as server:
            server.add_user("alice", ALICE[:50])
            server.faults.add("error11", count=None, probability=0.3)
            c = Client(server)
            return [c.post(user="alice").status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert 503 in first
    assert 200 in first


def test_slow_fault_times_out_client_and_does_not_block_stop(client: Client) -> None:
    server = FakeLastfm()
    server.add_user("alice", ALICE[:10])
    with server:
        server.faults.add("slow", seconds=30)
        c = Client(server)
        with pytest.raises(requests.Timeout):
            c.post(user="alice", timeout=0.2)
        began = time.monotonic()
    assert time.monotonic() - began < 3


def test_latency_and_request_records(fake: FakeLastfm, client: Client) -> None:
    fake.latency = 0.05
    client.post(user="alice", limit=2, page=3)
    client.post("user.getInfo", user="nobody")
    first, second = fake.requests
    assert first.method == "user.getrecenttracks"
    assert first.params == {"method": "user.getrecenttracks", "user": "alice", "limit": "2",
                            "page": "3", "format": "json"}
    assert (first.status, first.error) == (200, None)
    assert first.end - first.start >= 0.045
    assert (second.method, second.status, second.error) == ("user.getinfo", 404, 6)
    assert second.start >= first.start
    fake.reset_requests()
    assert fake.requests == []


def test_rate_limit_sliding_window(fake: FakeLastfm, client: Client) -> None:
    fake.rate_limit = 5
    codes = [client.post(user="alice", limit=1).status_code for _ in range(8)]
    assert codes.count(200) == 5
    assert codes.count(429) == 3
    assert _error(client.post(user="alice"))[1:] == (29, MSG_RATE_LIMIT)
    _until(lambda: client.post(user="alice", limit=1).status_code == 200, timeout=3)
    accepted = [r.start for r in fake.requests if r.status == 200]
    assert all(b - a >= 1.0 for a, b in zip(accepted, accepted[5:], strict=False))


def test_on_request_hook_adds_scrobbles_between_pages(fake: FakeLastfm, client: Client) -> None:
    seen: list[dict[str, str]] = []
    newest = ALICE[0].uts

    def arrive(params: dict[str, str]) -> None:
        seen.append(params)
        if params.get("page") == "2":
            fake.add_scrobbles("alice", [Scrobble(newest + 60, "Fresh", "Play")])

    fake.on_request(arrive)
    first = client.page(limit=1000, page=1)
    second = client.page(limit=1000, page=2)
    assert (first["@attr"]["total"], second["@attr"]["total"]) == ("2500", "2501")
    assert _scrobbles(second)[0] == _scrobbles(first)[-1]  # the page boundary shifted
    assert "api_key" not in seen[0]
    fake.remove_hook(arrive)


def test_concurrent_requests_are_consistent(fake: FakeLastfm) -> None:
    expected = Client(fake).post(user="alice", limit=500, page=2).content
    results: list[bytes] = []

    def fetch() -> None:
        c = Client(fake)
        results.append(c.post(user="alice", limit=500, page=2).content)
        c.session.close()

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [expected] * 6


def test_render_speed_is_sane(fake: FakeLastfm) -> None:
    params = {"method": "user.getrecenttracks", "user": "alice", "limit": "1000",
              "api_key": DEFAULT_API_KEY, "format": "json"}
    fake.dispatch(params)
    began = time.perf_counter()
    for _ in range(5):
        fake.dispatch(params)
    assert (time.perf_counter() - began) / 5 < 0.05  # ~2 ms when idle; loose for busy CI


def test_prerendered_pages_are_the_rendered_ones() -> None:
    plain, ready = FakeLastfm(), FakeLastfm()
    for server in (plain, ready):
        server.add_user("alice", ALICE)
    ready.prerender()
    first = ALICE[0]
    calls = [
        {"limit": "1000", "extended": "1"}, {"limit": "1000", "page": "2", "extended": "1"},
        {"limit": "7", "page": "3", "extended": "1", "from": str(first.uts - 86400 * 30),
         "to": str(first.uts)},
        {"limit": "1000", "extended": "0"}, {"limit": "1", "page": "5", "extended": "1"},
    ]

    def bodies() -> list[tuple[bytes, bytes]]:
        base = {"method": "user.getrecenttracks", "user": "alice", "api_key": DEFAULT_API_KEY,
                "format": "json"}
        return [(plain.dispatch({**base, **c}).body, ready.dispatch({**base, **c}).body)
                for c in calls]

    assert all(a == b for a, b in bodies())
    assert ready._users["alice"].prerendered is not None
    for server in (plain, ready):  # a fault changes the page: rendered as the fault wants
        server.faults.add("bad_uts", when=lambda p: p.get("page") is None, uts=2**40)
        server.faults.add("total_drift", when=lambda p: p.get("page") == "2", drift=3)
    assert all(a == b for a, b in bodies())
    for server in (plain, ready):  # a changed history, then changed looks, are served too
        server.add_scrobbles("alice", [first._replace(uts=first.uts - 1, title="Inserted")])
    assert ready._users["alice"].prerendered is None
    assert all(a == b for a, b in bodies())
    ready.prerender()
    for server in (plain, ready):
        server.renderer.images[(first.artist, first.album)] = "changed.png"
        server.renderer.clear()
    assert all(a == b for a, b in bodies())
    assert b"changed.png" in ready.dispatch({
        "method": "user.getrecenttracks", "user": "alice", "api_key": DEFAULT_API_KEY,
        "format": "json", "limit": "5", "extended": "1"}).body


# -- history generator -----------------------------------------------------------------------


def test_generator_is_deterministic() -> None:
    assert generate_history(3000, seed=5) == generate_history(3000, seed=5)
    assert generate_history(3000, seed=5) != generate_history(3000, seed=6)
    assert generate_history(0) == []


def test_generator_properties() -> None:
    start, end = 1_500_000_000, 1_600_000_000
    history = generate_history(40_000, seed=2, start_uts=start, end_uts=end)
    assert len(history) == 40_000
    uts = [s.uts for s in history]
    assert uts == sorted(uts, reverse=True)
    assert uts[-5:] == [0] * 5
    assert all(start <= u <= end for u in uts[:-5])
    assert uts[0] == end
    assert 0.6 < sum(1 for s in history if s.track_mbid) / len(history) < 0.8
    assert 0.6 < sum(1 for s in history if s.artist_mbid) / len(history) < 0.85
    counts = Counter(history)
    assert any(n >= 2 for n in counts.values())  # same-second identical bursts
    assert any(s.album == "" for s in history)
    assert {s.loved for s in history} == {0, 1}
    names = {s.artist for s in history} | {s.title for s in history}
    assert any(not n.isascii() for n in names)
    assert any(any("\u3040" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af" for c in n)
               for n in names)
    assert any("(feat. " in n for n in names)
    assert any("Remaster" in n for n in names)
    assert 200 < len({s.artist for s in history}) <= 3000
    gaps = sorted(a - b for a, b in itertools.pairwise(uts[:-5]))
    assert gaps[len(gaps) // 2] > 60  # plays are minutes apart, not seconds


# -- runnable module -------------------------------------------------------------------------


def test_runnable_module_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.lastfm_server", "--port", "0", "--api-key", "KEY",
         "--user", "erin", "--scrobbles", "300", "--seed", "1", "--ready-file", str(ready),
         "--max-limit", "200"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _until(lambda: ready.exists() or proc.poll() is not None, timeout=15)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        url = ready.read_text().strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/2.0/")
        response = requests.post(url, data={"method": "user.getrecenttracks", "user": "erin",
                                            "api_key": "KEY", "format": "json", "limit": 200},
                                 timeout=5)
        assert response.json()["recenttracks"]["@attr"]["total"] == "300"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert out == f"listening on {url}\n"
