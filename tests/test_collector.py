"""Python's cycle collector paused for bulk jobs and given back (daemon/collector.py, issue 16):
by the match job and by the apply, also when jobs overlap on the service's threads."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.apply import job, offline
from daemon.collector import cycle_collection_paused
from daemon.reconcile import jobs as reconcile
from tests.test_apply import T0, TRACKS, applier, scrobble, setup


@pytest.fixture(autouse=True)
def collecting() -> Iterator[None]:
    assert gc.isenabled()
    yield
    assert gc.isenabled(), "a test left the collector off"


def test_paused_for_the_block_and_given_back_when_it_fails() -> None:
    seen: list[bool] = []

    def failing_build() -> None:
        with cycle_collection_paused():
            seen.append(gc.isenabled())
            raise RuntimeError("a failed build")

    with pytest.raises(RuntimeError):
        failing_build()
    assert seen == [False]
    assert gc.isenabled()


def test_a_callers_own_pause_is_left_alone() -> None:
    gc.disable()
    try:
        with cycle_collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_jobs_keep_it_paused_until_the_last_one_ends() -> None:
    """Job A pauses, job B pauses, A ends: still paused while B runs; B ends: given back."""
    a_in, b_in, a_out, b_may_end = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}

    def job_a() -> None:
        with cycle_collection_paused():
            a_in.set()
            assert b_in.wait(10)
        a_out.set()

    def job_b() -> None:
        assert a_in.wait(10)
        with cycle_collection_paused():
            b_in.set()
            assert b_may_end.wait(10)

    threads = [threading.Thread(target=job_a), threading.Thread(target=job_b)]
    for thread in threads:
        thread.start()
    assert a_out.wait(10)
    seen["after A, B running"] = gc.isenabled()
    b_may_end.set()
    for thread in threads:
        thread.join(10)
    seen["after both"] = gc.isenabled()
    assert seen == {"after A, B running": False, "after both": True}


def _recording(monkeypatch: pytest.MonkeyPatch, seen: dict[str, list[bool]], owner: Any,
               name: str) -> None:
    real: Callable[..., Any] = getattr(owner, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.setdefault(name, []).append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)


def test_the_apply_plans_and_writes_paused_but_not_while_it_waits_for_plex(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[bool]] = {}
    _recording(monkeypatch, seen, job.Applier, "_plan")
    _recording(monkeypatch, seen, job.Applier, "_write")
    _recording(monkeypatch, seen, offline.PlexStopper, "stop")
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    counts = applier(engine, db, tmp_path).run(force_window=True)
    assert counts["added"] == len(TRACKS)
    assert seen == {"_plan": [False], "stop": [True], "_write": [False]}


def test_the_match_job_runs_paused(tmp_path: Path, engine: Engine,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[bool]] = {}
    _recording(monkeypatch, seen, reconcile, "_match")
    setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    assert seen["_match"]
    assert not any(seen["_match"])
