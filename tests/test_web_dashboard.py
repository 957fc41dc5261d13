"""The dashboard's Jobs table: what each job does, its last real run (a dry run wrote
nothing: it is noted, never shown as the job's run), "on demand" for jobs without an
interval, and the light plex-watch poll explained rather than "never"."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from daemon.service.runs import JobRunner
from tests.test_web import Calls, build_store, make_app


def rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in data["jobs"]}


def cell(html: str, job: str) -> str:
    """The text of the job's table row."""
    found = re.search(rf"<tr>\s*<td><b>{job}</b>.*?</tr>", html, re.DOTALL)
    assert found is not None, job
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[0]))


def test_dry_runs_on_demand_jobs_and_the_plex_watch_poll(engine: Engine) -> None:
    build_store(engine)
    runner = JobRunner(engine)
    runner.run("apply", lambda: {"mode": "offline", "added": 12, "removed": 0}, "schedule")
    runner.run("apply", lambda: {"mode": "dry-run", "to_add": 3, "to_remove": 0}, "cli")
    runner.run("revert", lambda: {"mode": "dry-run", "to_add": 0, "to_remove": 12}, "cli")
    tomorrow = datetime.fromtimestamp(time.time() + 86_400).astimezone()
    client = make_app(engine, Calls(), jobs=("pull", "match", "plex-watch", "apply"),
                      on_demand=("match",), unlogged=("plex-watch",),
                      next_runs=lambda: {"match": tomorrow, "plex-watch": tomorrow}
                      ).test_client()
    data = client.get("/api/dashboard").json
    jobs = rows(data)
    assert jobs["apply"]["last"]["counts"]["mode"] == "offline"  # the real run
    assert jobs["apply"]["last_dry_run"]["trigger"] == "cli"
    assert jobs["revert"]["last"] is None  # only a dry run: it never reverted anything
    assert jobs["match"]["next_run"] is None
    assert jobs["match"]["on_demand"] is True
    assert not jobs["plex-watch"]["logged"]
    html = client.get("/").get_data(as_text=True)
    revert = cell(html, "revert")
    assert "never" in revert
    assert "dry run" in revert
    assert " ok " not in revert
    assert "nothing written" in cell(html, "apply")
    match = cell(html, "match")
    assert "on demand" in match
    assert "in 1 d" not in match
    assert "in 24 h" not in match
    watch = cell(html, "plex-watch")
    assert "never" not in watch
    assert "not logged" in watch
    assert "whether the music library changed" in watch


def test_every_job_says_what_it_does(engine: Engine) -> None:
    build_store(engine)
    jobs = ("pull", "match", "library", "plex-watch", "tags", "apply")
    data = make_app(engine, Calls(), jobs=jobs).test_client().get("/api/dashboard").json
    assert all(row["note"] for row in data["jobs"]), data["jobs"]
