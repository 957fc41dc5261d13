"""One queue count everywhere, and no count shown as 0 before it was counted.

queued = waiting for a decision (skipped tracks included), with "N skipped for now" beside
it: the dashboard, /queue, /api/queue, /metrics and `plexfm status` agree. The cached page
counts say "counting…" instead of a 0 they have not computed yet, and jobs refresh them at
once (decisions at most once a minute).
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from daemon.service.runs import JobRunner
from daemon.store import pagestats
from daemon.store.status import collect_status, format_status
from daemon.web.refresh import StatsRefresher
from tests.test_web import Calls, build_store, make_app, post


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def metric(client: FlaskClient, name: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, name
    return float(found[1])


def test_one_queue_count_everywhere_with_the_skipped_beside_it(engine: Engine) -> None:
    ids = build_store(engine)
    client = make_app(engine, Calls()).test_client()
    for title in ("Song A", "Song B"):
        assert post(client, f"/api/tracks/{ids[title]}/skip").status_code == 200
    dashboard = client.get("/api/dashboard").json
    queue = client.get("/api/queue").json
    status = collect_status(engine, "alice")
    assert dashboard["queue"] == {"waiting": 6, "skipped": 2}
    assert dashboard["stats"]["queued"] == 6
    assert (queue["waiting"], queue["skipped"], queue["total"]) == (6, 2, 4)  # 4 listed
    assert metric(client, "plexfm_queue_size") == 6
    assert metric(client, "plexfm_queue_skipped") == 2
    assert (status["queued"], status["queue_skipped"]) == (6, 2)
    assert "6 queued (2 skipped for now)" in format_status(status)
    dashboard_text = text(client.get("/").get_data(as_text=True))
    assert "6in the queue · 2 skipped for now" in dashboard_text
    assert "6 waiting for a decision · 2 skipped for now" in text(
        client.get("/queue").get_data(as_text=True))
    skipped = text(client.get("/queue?skipped=1").get_data(as_text=True))
    assert "Song A" in skipped
    assert "6 waiting for a decision · 2 skipped for now" in skipped


def test_counts_not_computed_yet_say_counting(engine: Engine) -> None:
    calls = Calls()
    client = make_app(engine, calls).test_client()
    html = client.get("/").get_data(as_text=True)  # nothing counted yet
    assert html.count("counting…") == 7  # every cached count; the queue is counted live
    pagestats.refresh(engine, ["alice"], now=time.time() - 60)  # counted a minute ago...
    build_store(engine, refresh=False)  # ...then the pull and the library job ran
    JobRunner(engine).run("library", lambda: {"added": 9}, "schedule")
    data = client.get("/api/dashboard").json
    assert data["counting"] is True
    assert calls.changed >= 1  # the dashboard asked for a refresh
    html = client.get("/").get_data(as_text=True)
    assert "counting…" in html
    assert "<b>0</b>" not in html  # the queue is counted now: 6
    assert "9 tracks" in client.get("/library").get_data(as_text=True)  # from the mirror
    pagestats.refresh(engine, ["alice"])
    assert client.get("/api/dashboard").json["counting"] is False
    assert "counting…" not in client.get("/").get_data(as_text=True)


def test_a_finished_job_refreshes_at_once_decisions_at_most_once_a_minute(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    gate, started = threading.Event(), threading.Semaphore(0)

    def slow(_engine: Engine, _users: object, **_kw: object) -> dict[str, object]:
        started.release()
        gate.wait(5)
        return {}

    monkeypatch.setattr(pagestats, "refresh", slow)
    naps: list[float] = []
    refresher = StatsRefresher(engine, ["alice"], min_interval=60, sleep=naps.append)
    refresher.request()
    assert started.acquire(timeout=5)
    refresher.request()  # a decision during the refresh: the next one waits out the minute
    gate.set()
    assert refresher.wait_idle(5)
    assert len(naps) == 1
    assert naps[0] > 50
    gate.clear()
    naps.clear()
    refresher.request(urgent=True)
    assert started.acquire(timeout=5)
    refresher.request()  # a decision...
    refresher.request(urgent=True)  # ...and a job finished meanwhile: no waiting
    gate.set()
    assert refresher.wait_idle(5)
    assert naps == []
    assert refresher.refreshes == 4
