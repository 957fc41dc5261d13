"""The last.fm client: error mapping, retries with backoff, pacing, parsing quirks.

Responses come from a canned requests transport adapter (no sockets); the end-to-end tests
against the loopback fake server are in test_ingest.py.
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import urllib3
from requests.adapters import BaseAdapter

from daemon.errors import LastfmError, LastfmFatalError, LastfmTransientError
from daemon.lastfm.client import LastfmClient, LimitRefusedError, parse_recent_tracks
from daemon.lastfm.pacing import SAFETY_MARGIN, Pacer

KEY = "secretkey0123456789"
Answer = tuple[int, Any]  # (status, body: dict | str | Exception)


class CannedAdapter(BaseAdapter):
    def __init__(self, answers: list[Answer]) -> None:
        super().__init__()
        self.answers = answers
        self.forms: list[dict[str, str]] = []

    def send(self, request: requests.PreparedRequest, **_kw: Any) -> requests.Response:
        body = request.body or ""
        form = {k: v[0] for k, v in parse_qs(str(body)).items()}
        self.forms.append(form)
        status, payload = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(payload, Exception):
            raise payload
        content = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        response = requests.Response()
        response.status_code = status
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(content), status=status,
                                            preload_content=False)
        response.request = request
        return response

    def close(self) -> None:
        return None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def page(items: list[dict[str, Any]] | dict[str, Any], *, total: int = 1, user: str = "alice",
         limit: int = 200) -> dict[str, Any]:
    return {"recenttracks": {"track": items, "@attr": {
        "user": user, "page": "1", "perPage": str(limit), "total": str(total),
        "totalPages": str(-(-total // limit))}}}


def item(uts: int = 1000, artist: str = "A", title: str = "T", album: str = "Al",
         **extra: Any) -> dict[str, Any]:
    return {"artist": {"mbid": "am", "#text": artist}, "name": title, "mbid": "tm",
            "album": {"mbid": "alm", "#text": album}, "streamable": "0",
            "date": {"uts": str(uts), "#text": "x"}, **extra}


def make_client(answers: list[Answer], clock: FakeClock | None = None,
                **kw: Any) -> tuple[LastfmClient, CannedAdapter]:
    clock = clock or FakeClock()
    adapter = CannedAdapter(answers)

    def session() -> requests.Session:
        s = requests.Session()
        s.mount("http://", adapter)
        return s

    client = LastfmClient(api_url="http://lastfm.test/2.0/", api_key=KEY,
                          pacer=Pacer(4, clock=clock, sleep=clock.sleep), sleep=clock.sleep,
                          session_factory=session, **kw)
    return client, adapter


def test_request_is_a_form_post_with_the_key_in_the_body_only() -> None:
    client, adapter = make_client([(200, page([item()]))])
    result = client.recent_tracks("alice", page=2, limit=1000, from_uts=5, to_uts=9)
    form = adapter.forms[0]
    assert form["method"] == "user.getRecentTracks"
    assert form["api_key"] == KEY
    assert (form["page"], form["limit"], form["from"], form["to"]) == ("2", "1000", "5", "9")
    assert form["extended"] == "1"
    assert result.scrobbles[0].artist_mbid == "am"


@pytest.mark.parametrize("code", [8, 11, 16, 29])
@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_retryable_codes_are_retried_with_backoff(code: int) -> None:
    clock = FakeClock()
    answers: list[Answer] = [(500, {"message": "temporary", "error": code}),
                             (200, page([item()]))]
    client, adapter = make_client(answers, clock)
    result = client.recent_tracks("alice")
    assert len(adapter.forms) == 2
    assert len(result.scrobbles) == 1
    assert client.retries == 1
    assert any(0.8 <= s <= 1.2 for s in clock.sleeps)


@pytest.mark.parametrize(
    "answer",
    [
        (502, "<html>Bad Gateway</html>"),
        (200, '{"recenttracks": {"track": [{"artist": '),
        (503, ""),
        (0, requests.ConnectionError("boom http://lastfm.test/2.0/")),
        (0, requests.ReadTimeout("read timed out")),
    ],
)
@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_transport_failures_are_retried(answer: Answer) -> None:
    client, adapter = make_client([answer, (200, page([item()]))])
    assert len(client.recent_tracks("alice").scrobbles) == 1
    assert len(adapter.forms) == 2


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_gives_up_after_max_retries_with_one_clear_line() -> None:
    clock = FakeClock()
    client, adapter = make_client([(500, {"message": "Operation failed", "error": 8})], clock,
                                  max_retries=3)
    with pytest.raises(LastfmTransientError) as caught:
        client.recent_tracks("alice")
    assert len(adapter.forms) == 4
    assert "gave up after 4 attempts" in str(caught.value)
    assert KEY not in str(caught.value)
    backoffs = [s for s in clock.sleeps if s >= 0.8]  # the rest are the pacer's 0.25 s gaps
    assert len(backoffs) == 3
    for attempt, delay in enumerate(backoffs):
        assert 0.8 * 2**attempt <= delay <= 1.2 * 2**attempt


@pytest.mark.parametrize(
    ("status", "code", "message", "phrase"),
    [
        (403, 10, "Invalid API key - You must be granted a valid key by last.fm", "API key"),
        (403, 26, "Suspended API key", "suspended"),
        (403, 17, "Login: User required to be logged in", "private"),
        (404, 6, "User not found", "no user"),
    ],
)
@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_fatal_errors_are_not_retried(status: int, code: int, message: str, phrase: str) -> None:
    client, adapter = make_client([(status, {"message": message, "error": code})])
    with pytest.raises(LastfmFatalError, match=phrase) as caught:
        client.recent_tracks("alice")
    assert len(adapter.forms) == 1
    assert KEY not in str(caught.value)


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_user_not_found_after_a_success_is_transient() -> None:
    answers: list[Answer] = [(200, page([item()])), (404, {"message": "User not found",
                                                           "error": 6}), (200, page([item()]))]
    client, adapter = make_client(answers)
    client.recent_tracks("alice")
    client.recent_tracks("alice", page=2)
    assert len(adapter.forms) == 3


def test_limit_refused_is_its_own_error() -> None:
    client, _ = make_client([(400, {"message": "limit param out of bounds (1-1000)",
                                    "error": 6})])
    with pytest.raises(LimitRefusedError):
        client.recent_tracks("alice", limit=1000)


def test_other_errors_are_plain_errors() -> None:
    client, _ = make_client([(400, {"message": "Invalid Method", "error": 3})])
    with pytest.raises(LastfmError, match="error 3"):
        client.call("nope.nope", {})


def test_pacer_spaces_requests() -> None:
    clock = FakeClock()
    client, _ = make_client([(200, page([item()]))], clock)
    for _ in range(5):
        client.recent_tracks("alice")
    # 5 requests at 4/s: the 5th starts after four gaps of 0.25 s (plus the safety margin)
    assert clock.now == pytest.approx(4 * 0.25 * (1 + SAFETY_MARGIN))


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_rate_limit_answer_holds_off_every_caller() -> None:
    clock = FakeClock()
    pacer = Pacer(4, clock=clock, sleep=clock.sleep)
    pacer.wait()
    pacer.hold_off(5.0)  # what the client does on error 29 / HTTP 429
    pacer.wait()  # any other thread's next request
    assert clock.now == pytest.approx(5.0)  # not 0.25: the hold-off applies to everyone


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_rate_limited_request_is_retried_after_the_hold_off() -> None:
    clock = FakeClock()
    client, adapter = make_client([(429, {"message": "Rate Limit Exceeded", "error": 29}),
                                   (200, page([item()]))], clock)
    client.recent_tracks("alice")
    assert len(adapter.forms) == 2
    assert clock.now >= 0.8


def test_now_playing_is_dropped_and_single_object_accepted() -> None:
    now_playing = {"artist": {"#text": "A", "mbid": ""}, "name": "Live",
                   "album": {"#text": "", "mbid": ""}, "@attr": {"nowplaying": "true"}}
    result = parse_recent_tracks(page(now_playing, total=0), "alice")
    assert result.scrobbles == []
    assert result.now_playing == 1
    single = parse_recent_tracks(page(item(uts=5), total=1), "alice")
    assert [s.uts for s in single.scrobbles] == [5]


def test_extended_shape_and_loved() -> None:
    extended = item(loved="1")
    extended["artist"] = {"name": "Tame Impala", "mbid": "", "url": "u", "image": []}
    result = parse_recent_tracks(page([extended]), "alice")
    assert result.scrobbles[0].artist == "Tame Impala"
    assert result.scrobbles[0].loved == 1


@pytest.mark.reliability("input", "malformed last.fm answers")
def test_malformed_items_are_skipped_and_counted() -> None:
    bad = [item(uts=1), {"name": "no artist", "date": {"uts": "2"}}, item(uts="soon"),  # type: ignore[arg-type]
           item(title=""), "not an object", item(uts=3)]
    result = parse_recent_tracks(page(bad, total=6), "alice")
    assert [s.uts for s in result.scrobbles] == [1, 3]
    assert result.skipped == 4


@pytest.mark.reliability("input", "malformed last.fm answers")
def test_answer_for_another_user_is_rejected() -> None:
    with pytest.raises(LastfmTransientError, match="another user"):
        parse_recent_tracks(page([item()], user="mallory"), "alice")


def test_missing_album_and_numbers_as_strings() -> None:
    no_album = item()
    no_album["album"] = {"mbid": "", "#text": ""}
    result = parse_recent_tracks(page([no_album], total=1), "Alice")
    assert result.scrobbles[0].album == ""
    assert (result.total, result.total_pages, result.per_page) == (1, 1, 200)
