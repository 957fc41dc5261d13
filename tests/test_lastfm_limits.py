"""Hostile answers on loopback: a dripped body, a huge body, a gzip bomb (issue 10).

Every request has a total deadline and a cap on its decompressed body: past either, it is a
transient error ("last.fm response exceeded ..."), retried, then the pull (CLI or job) fails
with that message, /healthz answers 503 with it, and the next run recovers without a restart.
The limits are injected small (deadlines under a second, bodies of a MiB); the CLI runs with
the real 32 MiB cap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.cli import main
from daemon.config import load_config
from daemon.errors import LastfmTransientError
from daemon.lastfm import tags
from daemon.lastfm.client import LastfmClient
from daemon.lastfm.pacing import Pacer
from daemon.lastfm.transport import MAX_BODY_BYTES
from daemon.scrobble import Scrobble, with_ordinals
from daemon.service.health import evaluate
from daemon.service.jobs import job_table
from daemon.service.runs import JobRunner
from daemon.stopping import StopToken
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tracks
from daemon.store.engine import write
from daemon.web import WebDeps, create_app
from tests.environment import plexfm_only
from tests.fakes.history_gen import generate_history
from tests.fakes.lastfm_server import DEFAULT_API_KEY, FakeLastfm

pytestmark = pytest.mark.reliability("fault", "slow, huge and bomb last.fm answers")
NOW = 1_790_000_000
DEADLINE = 0.5
LIMIT = 1 << 20
# fault kind, its settings, the message
FAULTS = [
    ("drip", {"seconds": 0.05}, f"exceeded the {DEADLINE:g} s deadline"),
    ("drip_head", {"seconds": 0.05}, f"exceeded the {DEADLINE:g} s deadline"),
    ("huge_body", {"size": 64 << 20}, "exceeded 1 MiB"),
    ("gzip_bomb", {"size": 256 << 20}, "exceeded 1 MiB"),
]
IDS = [kind for kind, _s, _m in FAULTS]


@pytest.fixture
def fake() -> Iterator[FakeLastfm]:
    server = FakeLastfm(seed=8)
    server.add_user("alice", generate_history(600, seed=21))
    with server:
        yield server


def client_for(fake: FakeLastfm, retries: int = 1) -> LastfmClient:
    return LastfmClient(api_url=fake.url, api_key=DEFAULT_API_KEY, pacer=Pacer(1000),
                        timeout=DEADLINE, max_body_bytes=LIMIT, max_retries=retries,
                        backoff_base=0.001, backoff_cap=0.002)


@pytest.mark.parametrize(("kind", "settings", "message"), FAULTS, ids=IDS)
def test_each_hostile_answer_fails_fast_and_the_same_client_recovers(
    fake: FakeLastfm, kind: str, settings: dict[str, Any], message: str,
    caplog: pytest.LogCaptureFixture
) -> None:
    fault = fake.faults.add(kind, count=None, **settings)
    with client_for(fake) as client, caplog.at_level("DEBUG"):
        started = time.monotonic()
        with pytest.raises(LastfmTransientError) as caught:
            client.recent_tracks("alice", limit=200)
        seconds = time.monotonic() - started
        assert fault.fired == 2  # retried once, then given up
        assert message in str(caught.value)
        assert "gave up after 2 attempts" in str(caught.value)
        assert seconds < 2 * DEADLINE + 1.0  # never the minutes a drip would take
        fake.faults.clear()
        assert len(client.recent_tracks("alice", limit=200).scrobbles) == 200
    assert DEFAULT_API_KEY not in str(caught.value) + caplog.text


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeLastfm) -> dict[str, str]:
    plexfm_only(monkeypatch)
    monkeypatch.chdir(tmp_path)
    values = {"PLEXFM_LASTFM_API_KEY": DEFAULT_API_KEY, "PLEXFM_LASTFM_USER": "alice",
              "PLEXFM_LASTFM_API_URL": fake.url, "PLEXFM_LASTFM_REQUESTS_PER_SECOND": "500",
              "PLEXFM_LASTFM_TIMEOUT_SECONDS": "1", "PLEXFM_LASTFM_MAX_RETRIES": "0",
              "PLEXFM_STORE_DATA_DIR": str(tmp_path / "data"),
              "PLEXFM_SCHEDULE_RETRY_BUDGET": "1", "PLEXFM_TAGS_INTERVAL_MINUTES": "0"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.mark.parametrize(("kind", "settings", "timeout", "message"), [
    ("drip_head", {"seconds": 0.1}, "1", "exceeded the 1 s deadline"),
    ("huge_body", {}, "30", "exceeded 32 MiB"),  # the fake's 1.5 GiB against the real cap
    ("gzip_bomb", {"size": 512 << 20}, "30", "exceeded 32 MiB"),
], ids=["drip_head", "huge_body", "gzip_bomb"])
def test_cli_pull_fails_with_the_reason_then_succeeds(
    env: dict[str, str], fake: FakeLastfm, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, kind: str, settings: dict[str, Any], timeout: str,
    message: str
) -> None:
    monkeypatch.setenv("PLEXFM_LASTFM_TIMEOUT_SECONDS", timeout)
    assert MAX_BODY_BYTES == 32 << 20
    fake.faults.add(kind, count=None, **settings)
    started = time.monotonic()
    assert main(["pull"]) == 1
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert f"last.fm response {message} (recent tracks of alice page 1)" in err
    assert DEFAULT_API_KEY not in err
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert message in status["jobs"]["pull"]["error"]
    fake.faults.clear()
    assert main(["pull"]) == 0
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scrobbles"] == 600


@pytest.mark.parametrize(("kind", "settings", "message"), FAULTS, ids=IDS)
def test_the_pull_job_fails_healthz_says_why_and_the_next_run_recovers(
    env: dict[str, str], fake: FakeLastfm, engine: Engine, kind: str,
    settings: dict[str, Any], message: str
) -> None:
    config = load_config(None, environ=env)
    stop = StopToken()
    with client_for(fake) as client:
        specs = {spec.name: spec for spec in job_table(config, engine, stop, lastfm=client,
                                                       library_source=None)}
        pull = specs["pull"]
        expect = [pull.expectation()]
        app = create_app(WebDeps(engine=engine, health=lambda: evaluate(engine, expect)))
        runner = JobRunner(engine)
        fake.faults.add(kind, count=None, **settings)
        result = runner.run("pull", pull.run)
        assert not result.ok
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        reason = response.json["reasons"][0]
        assert reason.startswith("pull: failed 1 times in a row: last.fm response")
        assert message in reason
        assert DEFAULT_API_KEY not in json.dumps(response.json)
        fake.faults.clear()
        assert runner.run("pull", pull.run).ok  # the same client: no restart
        assert app.test_client().get("/healthz").status_code == 200


@pytest.mark.parametrize(("kind", "settings", "message"), FAULTS, ids=IDS)
def test_the_tags_job_goes_through_the_same_guarded_path(
    fake: FakeLastfm, engine: Engine, kind: str, settings: dict[str, Any], message: str
) -> None:
    plays = [Scrobble(NOW - 600 * i, f"Artist {i}", "Song", "Album") for i in range(3)]
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(plays), "test")
        tracks.fold_new_scrobbles(conn)
    fake.faults.add(kind, count=None, method="artist.getTopTags", **settings)
    settings_ = tags.TagSettings(give_up_after=2, track_tags=False)
    with client_for(fake, retries=0) as client, \
            pytest.raises(LastfmTransientError, match="failed for 2 artists in a row") as caught:
        tags.refresh_tags(client, engine, settings_, tags_rules())
    assert message in str(caught.value)
    fake.faults.clear()
    with client_for(fake, retries=0) as client:
        counts = tags.refresh_tags(client, engine, settings_, tags_rules())
    assert counts["errors"] == 0
    assert counts["asked"] == 3


def tags_rules() -> Any:
    from daemon.analytics.genres import GenreRules

    return GenreRules.build()


def test_a_body_shorter_than_announced_is_an_error_not_a_page() -> None:
    """The server closes after part of the length it announced: never a partial page."""
    import socket
    import threading

    whole = json.dumps({"recenttracks": {"track": [], "@attr": {
        "user": "alice", "page": "1", "perPage": "50", "total": "0", "totalPages": "0"}}})
    listener = socket.create_server(("127.0.0.1", 0))
    served: list[int] = []

    def serve() -> None:
        for _ in range(2):  # the first attempt and its one retry
            conn, _addr = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(whole) + 50,
                                                                 whole.encode()))
                served.append(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    client = LastfmClient(api_url=f"http://127.0.0.1:{port}/2.0/", api_key=DEFAULT_API_KEY,
                          pacer=Pacer(1000), timeout=5, max_retries=1, backoff_base=0.001,
                          backoff_cap=0.002)
    with client, pytest.raises(LastfmTransientError, match=r"cannot reach last\.fm"):
        client.recent_tracks("alice")
    thread.join(5)
    listener.close()
    assert len(served) == 2


@pytest.mark.parametrize("bypass", [False, True])
def test_the_proxy_of_the_environment_is_used_unless_no_proxy_says_otherwise(
    fake: FakeLastfm, monkeypatch: pytest.MonkeyPatch, bypass: bool
) -> None:
    """requests' environment is read once per session (pinned), with the same result: the
    fake answers as an HTTP proxy would (it serves the path of an absolute request URI)."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fake.url.removesuffix("/2.0/"))
    if bypass:
        monkeypatch.setenv("NO_PROXY", "lastfm.invalid")
    client = LastfmClient(api_url="http://lastfm.invalid/2.0/", api_key=DEFAULT_API_KEY,
                          pacer=Pacer(1000), timeout=5, max_retries=0)
    with client:
        if bypass:
            with pytest.raises(LastfmTransientError, match=r"cannot reach last\.fm"):
                client.recent_tracks("alice")
        else:
            assert client.recent_tracks("alice", limit=1000).total == 600
            assert client.recent_tracks("alice", page=2).page == 2  # the pinned session
