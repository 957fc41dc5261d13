"""The last.fm client: error mapping, retries with backoff, pacing, parsing quirks, limits.

Responses come from a canned requests transport adapter (no sockets); the end-to-end tests
against the loopback fake server are in test_ingest.py and test_lastfm_limits.py.
"""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import urllib3
from requests.adapters import BaseAdapter

from daemon.errors import LastfmError, LastfmFatalError, LastfmTransientError
from daemon.lastfm.client import LastfmClient, LimitRefusedError
from daemon.lastfm.pacing import SAFETY_MARGIN, Pacer
from daemon.lastfm.pages import parse_recent_tracks
from daemon.lastfm.transport import guarded_session
from daemon.scrobble import MAX_AHEAD_SECONDS

KEY = "secretkey0123456789"
NOW = 1_790_000_000.0  # the wall clock the range check sees
Answer = tuple[int, Any]  # (status, body: dict | str | Raw | Exception)


@dataclass
class Raw:
    """A body sent as these exact bytes, with these headers."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


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
        raw = payload if isinstance(payload, Raw) else Raw(
            (payload if isinstance(payload, str) else json.dumps(payload)).encode())
        response = requests.Response()
        response.status_code = status
        response.headers = requests.structures.CaseInsensitiveDict(raw.headers)
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(raw.body), status=status,
                                            headers=raw.headers, preload_content=False)
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


def make_client(answers: list[Answer], clock: FakeClock | None = None, *,
                wall: float = NOW, **kw: Any) -> tuple[LastfmClient, CannedAdapter]:
    clock = clock or FakeClock()
    adapter = CannedAdapter(answers)

    def session() -> requests.Session:
        s = guarded_session()
        s.mount("http://", adapter)
        return s

    client = LastfmClient(api_url="http://lastfm.test/2.0/", api_key=KEY,
                          pacer=Pacer(4, clock=clock, sleep=clock.sleep), sleep=clock.sleep,
                          clock=lambda: wall, session_factory=session, **kw)
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
    result = parse_recent_tracks(page(now_playing, total=0), "alice", now=NOW)
    assert result.scrobbles == []
    assert result.now_playing == 1
    single = parse_recent_tracks(page(item(uts=5), total=1), "alice", now=NOW)
    assert [s.uts for s in single.scrobbles] == [5]


def test_extended_shape_and_loved() -> None:
    extended = item(loved="1")
    extended["artist"] = {"name": "Tame Impala", "mbid": "", "url": "u", "image": []}
    result = parse_recent_tracks(page([extended]), "alice", now=NOW)
    assert result.scrobbles[0].artist == "Tame Impala"
    assert result.scrobbles[0].loved == 1


@pytest.mark.reliability("input", "malformed last.fm answers")
def test_malformed_items_are_skipped_and_counted() -> None:
    bad = [item(uts=1), {"name": "no artist", "date": {"uts": "2"}}, item(uts="soon"),  # type: ignore[arg-type]
           item(title=""), "not an object", item(uts=3)]
    result = parse_recent_tracks(page(bad, total=6), "alice", now=NOW)
    assert [s.uts for s in result.scrobbles] == [1, 3]
    assert result.skipped == 4


@pytest.mark.reliability("input", "malformed last.fm answers")
def test_answer_for_another_user_is_rejected() -> None:
    with pytest.raises(LastfmTransientError, match="another user"):
        parse_recent_tracks(page([item()], user="mallory"), "alice", now=NOW)


def test_missing_album_and_numbers_as_strings() -> None:
    no_album = item()
    no_album["album"] = {"mbid": "", "#text": ""}
    result = parse_recent_tracks(page([no_album], total=1), "Alice", now=NOW)
    assert result.scrobbles[0].album == ""
    assert (result.total, result.total_pages, result.per_page) == (1, 1, 200)


# ---- whatever arrives (issue 10): times out of range, impossible numbers, hostile bodies --

LATEST = int(NOW) + MAX_AHEAD_SECONDS
OUT_OF_RANGE_TIMES = pytest.mark.reliability("input", "out-of-range play times")
MALFORMED = pytest.mark.reliability("input", "malformed last.fm answers")
LIMITS = pytest.mark.reliability("fault", "slow, huge and bomb last.fm answers")
OUT_OF_RANGE = [1_796_470_000_000, 2**63, -5, LATEST + 1]  # ms, overflow, negative, too late
IN_RANGE = [LATEST, 946_684_799, 1, 0]  # a day ahead, 1999 (a bad clock), 1970, undated


@OUT_OF_RANGE_TIMES
@pytest.mark.parametrize("typed", [True, False], ids=["fast path", "generic path"])
def test_times_outside_the_range_are_skipped_and_counted(typed: bool) -> None:
    items: list[Any] = [item(uts=uts, title=f"T{uts}") for uts in OUT_OF_RANGE + IN_RANGE]
    if not typed:
        items.append("not an object")  # sends the page down the generic parser
    client, _ = make_client([(200, page(items, total=len(items)))])
    result = client.recent_tracks("alice")
    assert [s.uts for s in result.scrobbles] == IN_RANGE
    assert result.skipped == len(OUT_OF_RANGE) + (0 if typed else 1)


@OUT_OF_RANGE_TIMES
def test_the_range_follows_the_injected_clock() -> None:
    late = item(uts=LATEST + 100)
    client, _ = make_client([(200, page([late]))], wall=NOW + 100)
    assert [s.uts for s in client.recent_tracks("alice").scrobbles] == [LATEST + 100]
    client, _ = make_client([(200, page([late]))], wall=NOW + 99)
    assert client.recent_tracks("alice").skipped == 1


@MALFORMED
@pytest.mark.parametrize("key", ["total", "totalPages", "page", "perPage"])
def test_impossible_page_numbers_are_a_transient_error(key: str) -> None:
    body = page([item()])
    body["recenttracks"]["@attr"][key] = str(2**63)
    client, adapter = make_client([(200, body)], max_retries=2)
    with pytest.raises(LastfmTransientError, match="impossible page numbers"):
        client.recent_tracks("alice")
    assert len(adapter.forms) == 3


@MALFORMED
def test_an_unknown_loved_flag_keeps_the_play_without_it() -> None:
    items = [item(uts=1, loved=str(2**63)), item(uts=2, loved="1"), item(uts=3, loved="yes")]
    result = make_client([(200, page(items, total=3))])[0].recent_tracks("alice")
    assert [(s.uts, s.loved) for s in result.scrobbles] == [(1, None), (2, 1), (3, None)]


@MALFORMED
def test_an_unpaired_surrogate_skips_its_item_not_the_page() -> None:
    body = json.dumps(page([item(uts=1), item(uts=2, artist="X"), item(uts=3)], total=3))
    body = body.replace('"#text": "X"', '"#text": "bad \\ud800 name"')
    result = make_client([(200, body)])[0].recent_tracks("alice")
    assert [s.uts for s in result.scrobbles] == [1, 3]
    assert result.skipped == 1


def padded_page(pad: int) -> bytes:
    """A valid page behind `pad` bytes of whitespace (JSON allows any)."""
    return b" " * pad + json.dumps(page([item()])).encode()


@LIMITS
def test_a_body_over_the_limit_is_a_transient_error_naming_the_limit() -> None:
    client, adapter = make_client([(200, Raw(padded_page(5000)))], max_body_bytes=4096,
                                  max_retries=2)
    with pytest.raises(LastfmTransientError) as caught:
        client.recent_tracks("alice")
    message = str(caught.value)
    assert message == ("last.fm response exceeded 4 KiB (recent tracks of alice page 1) "
                       "(gave up after 3 attempts)")
    assert KEY not in message
    assert len(adapter.forms) == 3
    just_under = make_client([(200, Raw(padded_page(3000)))], max_body_bytes=4096)[0]
    assert len(just_under.recent_tracks("alice").scrobbles) == 1


@LIMITS
def test_an_announced_length_over_the_limit_is_refused_before_reading() -> None:
    raw = Raw(padded_page(10), {"Content-Length": str(64 << 20)})
    client, _ = make_client([(200, raw)], max_body_bytes=1 << 20, max_retries=0)
    with pytest.raises(LastfmTransientError, match="exceeded 1 MiB"):
        client.recent_tracks("alice")


@LIMITS
def test_a_gzip_bomb_is_stopped_at_the_limit_without_inflating_it() -> None:
    bomb = gzip.compress(padded_page(256 << 20), compresslevel=9)  # 256 MiB in ~250 KB
    client, _ = make_client([(200, Raw(bomb, {"Content-Encoding": "gzip"}))],
                            max_body_bytes=1 << 20, max_retries=0)
    tracemalloc.start()
    try:
        with pytest.raises(LastfmTransientError, match="exceeded 1 MiB"):
            client.recent_tracks("alice")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # a few chunks, never the inflated body
    small = gzip.compress(padded_page(1000))
    client, _ = make_client([(200, Raw(small, {"Content-Encoding": "gzip"}))])
    assert len(client.recent_tracks("alice").scrobbles) == 1


@LIMITS
def test_a_redirect_is_not_followed_so_its_body_is_never_inflated() -> None:
    bomb = gzip.compress(padded_page(256 << 20), compresslevel=9)
    moved = Raw(bomb, {"Content-Encoding": "gzip", "Location": "http://lastfm.test/2.0/"})
    client, adapter = make_client([(302, moved), (200, page([item()]))],
                                  max_body_bytes=1 << 20, max_retries=0)
    tracemalloc.start()
    try:
        with pytest.raises(LastfmError, match="exceeded 1 MiB"):
            client.recent_tracks("alice")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(adapter.forms) == 1
    assert peak < 8 << 20
