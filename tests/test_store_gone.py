"""The store file deleted or replaced while plexfm runs (issue 10): detected by device and
inode before any use, the next job fails with the reason, /healthz says 503, nothing is written
to the old file nor to the new one, no store is created in its place, and the contents of the
deleted one are rescued next to it."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.errors import StoreError
from daemon.service.health import Expectation, evaluate
from daemon.service.runs import JobRunner
from daemon.store.engine import open_existing_store, open_store, store_file, write
from daemon.web import WebDeps, create_app

pytestmark = pytest.mark.reliability("fault", "store file deleted or replaced while running")

EXPECT = [Expectation("pull", 900)]


def delete_store(path: Path) -> None:
    """`rm plexfm.db*`: the open connections keep the unlinked files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    path = tmp_path / "data" / "plexfm.db"
    engine = open_store(f"sqlite:///{path}")
    yield path, engine
    engine.dispose()


def runs_in(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM job_runs").fetchone()[0])
    finally:
        conn.close()


def test_a_deleted_store_fails_the_next_job_and_is_never_recreated(
        store: tuple[Path, Engine]) -> None:
    path, engine = store
    runner = JobRunner(engine)
    assert runner.run("pull", lambda: {"added": 1}).ok
    delete_store(path)
    calls: list[int] = []

    def job() -> dict[str, Any]:
        calls.append(1)
        return {}

    result = runner.run("pull", job)
    assert not result.ok
    assert calls == []  # refused at the job's start
    assert result.error is not None
    assert f"the store file {path} was deleted while plexfm runs" in result.error
    with pytest.raises(StoreError, match="was deleted"), write(engine) as conn:
        conn.exec_driver_sql("DELETE FROM job_runs")  # an old connection: never reached
    assert not path.exists()  # no new, empty store in its place
    assert not evaluate(engine, EXPECT).ok


def test_the_contents_of_a_deleted_store_are_rescued(store: tuple[Path, Engine]) -> None:
    path, engine = store
    runner = JobRunner(engine)
    for _ in range(3):
        assert runner.run("pull", lambda: {}).ok
    delete_store(path)
    with pytest.raises(StoreError) as caught, engine.connect():
        pass
    [rescued] = path.parent.glob("plexfm.db.rescued-*")
    assert f"saved to {rescued}" in str(caught.value)
    assert runs_in(rescued) == 3  # every run written before the deletion


def test_a_replaced_store_is_left_alone_and_healthz_turns_503(
        store: tuple[Path, Engine], tmp_path: Path) -> None:
    path, engine = store
    runner = JobRunner(engine)
    assert runner.run("pull", lambda: {}).ok
    other = tmp_path / "other.db"
    open_store(f"sqlite:///{other}").dispose()
    before = digest(other)
    os.replace(other, path)  # e.g. a backup restored over it while plexfm runs

    client = create_app(WebDeps(engine=engine, health=lambda: evaluate(engine, EXPECT))
                        ).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["reasons"] == [
        f"store: the store file {path} was replaced by another file while plexfm runs"]
    result = runner.run("pull", lambda: {})
    assert not result.ok
    assert result.error is not None
    assert "was replaced by another file" in result.error
    assert digest(path) == before  # the new file was not written


def test_only_the_service_rescues_not_its_worker_processes(store: tuple[Path, Engine]) -> None:
    path, engine = store
    opened = store_file(engine)
    assert opened is not None
    worker = open_existing_store(f"sqlite:///{path}", opened.identity)  # as the match worker
    try:
        with worker.connect(), engine.connect():
            pass  # each holds a pooled connection to the file
        delete_store(path)
        with pytest.raises(StoreError, match="was deleted"), worker.connect():
            pass
        assert list(path.parent.glob("plexfm.db.rescued-*")) == []
        with pytest.raises(StoreError, match="saved to"), engine.connect():
            pass
        assert len(list(path.parent.glob("plexfm.db.rescued-*"))) == 1
    finally:
        worker.dispose()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_every_page_and_metrics_answer_503_with_the_reason_logged_once(
        store: tuple[Path, Engine], tmp_path: Path, how: str,
        caplog: pytest.LogCaptureFixture) -> None:
    path, engine = store
    assert JobRunner(engine).run("pull", lambda: {}).ok
    app = create_app(WebDeps(engine=engine, health=lambda: evaluate(engine, EXPECT)))
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    if how == "deleted":
        delete_store(path)
    else:
        other = tmp_path / "other.db"
        open_store(f"sqlite:///{other}").dispose()
        os.replace(other, path)
    paths = sorted(rule.rule for rule in app.url_map.iter_rules()
                   if "GET" in (rule.methods or ()) and not rule.arguments
                   and rule.endpoint not in ("static", "healthz"))
    assert {"/", "/metrics", "/queue", "/api/queue", "/api/dashboard"} <= set(paths)
    with caplog.at_level("INFO"):
        [reason] = client.get("/healthz").json["reasons"]  # type: ignore[index]
        assert reason.startswith(f"store: the store file {path} was {how}")
        for _ in range(2):
            for url in paths:
                response = client.get(url)
                assert response.status_code == 503, (url, response.status_code)
                body = response.get_data(as_text=True)
                if url.startswith("/api/"):
                    assert response.json == {"error": reason}, url
                else:
                    assert reason in body.replace("&#39;", "'"), (url, body[:300])
        posted = client.post("/api/tracks/1/skip", json={})
        assert posted.status_code == 503
        assert posted.json == {"error": reason}
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == len(set(loud)) <= 2, loud  # the problem (and the rescue), once each
    assert not (path.exists() and how == "deleted")  # no store created in its place


def test_a_store_error_inside_a_view_is_a_503_in_one_line(
        store: tuple[Path, Engine], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The file can go between the check before a request and the view's first query."""
    _path, engine = store
    from daemon.store import pagestats

    def gone(*_args: object) -> None:
        raise StoreError("the store file vanished mid-request")

    monkeypatch.setattr(pagestats, "queue_count", gone)
    client = create_app(WebDeps(engine=engine, health=lambda: evaluate(engine, EXPECT))
                        ).test_client()
    with caplog.at_level("INFO"):
        for url in ("/api/queue", "/metrics", "/queue"):
            response = client.get(url)
            assert response.status_code == 503, url
            assert "store: the store file vanished mid-request" in response.get_data(
                as_text=True), url
    assert not [r for r in caplog.records if r.exc_info]
