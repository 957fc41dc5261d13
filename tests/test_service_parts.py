"""Scheduler, health and web endpoints in-process (no subprocess, no real upstream)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.errors import LastfmTransientError
from daemon.service.health import Expectation, evaluate
from daemon.service.jobs import JobSpec
from daemon.service.runs import JobRunner
from daemon.service.scheduler import Scheduler
from daemon.stopping import StopToken
from daemon.store import jobruns
from daemon.web import WebDeps, create_app


def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not met before the deadline")
        threading.Event().wait(0.01)


def runs_of(engine: Engine, job: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.exec_driver_sql(
            "SELECT outcome, trigger FROM job_runs WHERE job = ? ORDER BY id", (job,))]


def test_a_job_triggered_while_running_runs_once_more_not_twice(engine: Engine) -> None:
    release = threading.Event()
    calls: list[int] = []

    def slow() -> dict[str, Any]:
        calls.append(1)
        release.wait(10)
        return {}

    stop = StopToken()
    scheduler = Scheduler([JobSpec("slow", slow, None)], JobRunner(engine), stop)
    scheduler.start()
    try:
        assert scheduler.trigger("slow")
        until(lambda: scheduler.running() == {"slow"})
        for _ in range(5):
            scheduler.trigger("slow", "impatient")  # overlapping triggers: coalesced
        until(lambda: scheduler.waiting() == {"slow"})
        release.set()
        until(lambda: len(calls) == 2 and not scheduler.running())
    finally:
        stop.stop()
        scheduler.shutdown()
    assert [outcome for outcome, _ in runs_of(engine, "slow")] == ["ok", "ok"]
    assert runs_of(engine, "slow")[1][1] == "coalesced"


def test_a_successful_pull_triggers_match(engine: Engine) -> None:
    done = threading.Event()
    specs = [
        JobSpec("pull", lambda: {"added": 3}, None,
                then=lambda counts: ["match"] if counts["added"] else []),
        JobSpec("match", lambda: done.set() or {}, None),  # type: ignore[func-returns-value]
    ]
    stop = StopToken()
    scheduler = Scheduler(specs, JobRunner(engine), stop)
    scheduler.start()
    try:
        scheduler.trigger("pull")
        until(done.is_set)
    finally:
        stop.stop()
        scheduler.shutdown()
    until(lambda: runs_of(engine, "match") == [("ok", "after pull")])


def test_failures_are_logged_once_then_recovery_once(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    runner = JobRunner(engine)
    outcomes = iter([False, False, False, True, True])

    def flaky() -> dict[str, Any]:
        if not next(outcomes):
            raise LastfmTransientError("last.fm did not answer")
        return {}

    with caplog.at_level("DEBUG"):
        for _ in range(5):
            runner.run("pull", flaky)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(errors) == 1
    assert len(recovered) == 1


def test_health_counts_consecutive_failures_against_the_budget(engine: Engine) -> None:
    expect = [Expectation("pull", 900, retry_budget=3)]
    now = 1_000_000.0
    with engine.begin() as conn:
        ok = jobruns.start(conn, "pull", "schedule", now - 100)
        jobruns.finish(conn, ok, now - 99, "ok", {}, None)
    assert evaluate(engine, expect, now=lambda: now).ok
    for i in range(2):
        with engine.begin() as conn:
            run = jobruns.start(conn, "pull", "schedule", now - 50 + i)
            jobruns.finish(conn, run, now - 49 + i, "error", {}, "HTTP 503")
    assert evaluate(engine, expect, now=lambda: now).ok  # within the retry budget
    with engine.begin() as conn:
        run = jobruns.start(conn, "pull", "schedule", now - 10)
        jobruns.finish(conn, run, now - 9, "error", {}, "HTTP 503")
    health = evaluate(engine, expect, now=lambda: now)
    assert not health.ok
    assert health.reasons == ["pull: failed 3 times in a row: HTTP 503"]


def test_health_flags_a_job_that_stopped_running(engine: Engine) -> None:
    expect = [Expectation("pull", 900)]
    with engine.begin() as conn:
        run = jobruns.start(conn, "pull", "schedule", 0.0)
        jobruns.finish(conn, run, 1.0, "ok", {}, None)
    assert evaluate(engine, expect, now=lambda: 1.0 + 1800 + 299).ok
    late = evaluate(engine, expect, now=lambda: 1.0 + 1800 + 301)
    assert late.reasons == ["pull: no successful run for 2101 s"]


def test_cancelled_runs_are_not_failures(engine: Engine) -> None:
    expect = [Expectation("pull", None, retry_budget=1)]
    with engine.begin() as conn:
        run = jobruns.start(conn, "pull", "schedule", 1.0)
        jobruns.finish(conn, run, 2.0, "cancelled", {}, "stopped")
    assert evaluate(engine, expect).ok


def test_healthz_and_metrics(engine: Engine) -> None:
    expect = [Expectation("pull", 900, retry_budget=1)]
    app = create_app(WebDeps(engine=engine, health=lambda: evaluate(engine, expect)))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    with engine.begin() as conn:
        run = jobruns.start(conn, "pull", "schedule", time.time())
        jobruns.finish(conn, run, time.time(), "error", {}, "last.fm error 11: offline")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["reasons"] == ["pull: failed 1 times in a row: last.fm error 11: "
                                        "offline"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "plexfm_scrobbles 0.0" in metrics
    assert 'plexfm_job_runs_total{job="pull",outcome="error"} 1.0' in metrics
    assert 'plexfm_tracks{status="queued"} 0.0' in metrics
    assert "plexfm_healthy 0.0" in metrics


def test_stop_token_interrupts_a_backoff_sleep() -> None:
    stop = StopToken()
    threading.Timer(0.05, stop.stop).start()
    started = time.monotonic()
    with pytest.raises(Exception, match="stopping"):
        stop.sleep(30)
    assert time.monotonic() - started < 5


def test_plex_watch_triggers_the_library_job_when_plex_reports_a_change() -> None:
    from daemon.service.jobs import _plex_watch

    stamps = iter(["100|5|7", "100|5|7", None, "101|5|8"])
    spec = _plex_watch(lambda: next(stamps), 2)
    assert spec.record is False
    seen = [list(spec.then(spec.run())) for _ in range(4)]
    assert seen == [[], [], [], ["library"]]  # first look records; unreadable ones are ignored


def test_section_stamp_moves_when_plex_changes_the_section(tmp_path: Any) -> None:
    import sqlite3

    from daemon.plex.server import PlexServerProbe
    from tests.fakes.plex_db import build_plex_db
    from tests.fakes.plex_library_gen import generate_library
    from tests.fakes.plex_server import FakePlexServer

    db = tmp_path / "plex.db"
    build_plex_db(db, generate_library(50, seed=1))
    with FakePlexServer(db, token="t") as plex:
        probe = PlexServerProbe(plex.url, "t", timeout=5)
        before = probe.section_stamp("Music")
        conn = sqlite3.connect(db)
        conn.execute("UPDATE library_sections SET content_changed_at = content_changed_at + 1")
        conn.commit()
        conn.close()
        after = probe.section_stamp("music")
        assert probe.section_stamp("Movies") is None
    assert before is not None
    assert after is not None
    assert before != after


def test_status_opens_the_store_without_the_write_lock_the_service_holds(
        engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`plexfm status` while a job of the service holds the write lock (a long transaction
    on a loaded machine): opening an up-to-date store takes no write lock, so it neither
    waits for the lock nor fails with "database is locked"."""
    import sqlite3

    from daemon.store import engine as store_engine
    from daemon.store.status import collect_status

    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 50)  # would fail fast, not in 15 s
    holder = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        reader = store_engine.open_store(store_url)
        try:
            status = collect_status(reader, "alice")
        finally:
            reader.dispose()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status["scrobbles"] == 0
    assert status["backfill_complete"] is False
