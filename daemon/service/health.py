"""Service health from the job_runs table: what /healthz, /metrics and `plexfm healthcheck` say.

A job is healthy when its last finished run succeeded, or when it has failed fewer than
`retry_budget` times in a row (a transient outage being retried); a job that should have run
(two intervals plus a grace period after the last success) but has not is unhealthy too.
A store file deleted or replaced while the service runs makes the whole service unhealthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from daemon.store.engine import store_problem

GRACE_SECONDS = 300


@dataclass(frozen=True)
class Expectation:
    """How often an enabled job must succeed."""

    job: str
    interval_seconds: float | None  # None: runs on demand or on a calendar, no staleness check
    retry_budget: int = 3


@dataclass(frozen=True)
class JobHealth:
    job: str
    ok: bool
    reason: str | None
    last_outcome: str | None
    last_success: float | None
    consecutive_failures: int
    last_error: str | None


@dataclass(frozen=True)
class Health:
    ok: bool
    jobs: list[JobHealth] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the service's own, beyond its jobs

    @property
    def reasons(self) -> list[str]:
        return [*self.problems,
                *(f"{j.job}: {j.reason}" for j in self.jobs if not j.ok and j.reason)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "unhealthy",
            "reasons": self.reasons,
            "jobs": {j.job: {"ok": j.ok, "last_outcome": j.last_outcome,
                             "last_success": j.last_success,
                             "consecutive_failures": j.consecutive_failures,
                             "last_error": j.last_error} for j in self.jobs},
        }


_RECENT = """
SELECT outcome, started_at, finished_at, error FROM job_runs
WHERE job = ? AND outcome != 'running' ORDER BY id DESC LIMIT ?
"""


def store_reason(engine: Engine) -> str | None:
    """Why nothing can be served from the store (its file deleted or replaced), as /healthz
    says it and the web answers every other request with a 503; None while it is usable."""
    problem = store_problem(engine)
    return None if problem is None else f"store: {problem}"


def evaluate(
    engine: Engine,
    expectations: Sequence[Expectation],
    *,
    started_at: float | None = None,
    now: Callable[[], float] = time.time,
) -> Health:
    """Judge every expected job from its recent runs. `started_at`: when the service started
    (a job cannot be late before it had a chance to run)."""
    reason = store_reason(engine)
    if reason is not None:
        return Health(False, problems=[reason])
    current = now()
    results = []
    with engine.connect() as conn:
        for exp in expectations:
            runs = conn.exec_driver_sql(_RECENT, (exp.job, max(exp.retry_budget, 1) + 50)).all()
            results.append(_judge(exp, runs, current, started_at))
    return Health(all(r.ok for r in results), results)


def _judge(exp: Expectation, runs: Sequence[Any], now: float,
           started_at: float | None) -> JobHealth:
    failures = 0
    last_success = None
    for outcome, _started, finished, _error in runs:
        if outcome == "ok":
            last_success = finished
            break
        if outcome == "error":
            failures += 1
    last_outcome = runs[0][0] if runs else None
    last_error = runs[0][3] if runs and runs[0][0] == "error" else None
    reason = None
    if failures >= exp.retry_budget:
        reason = f"failed {failures} times in a row: {last_error}"
    elif exp.interval_seconds:
        since = last_success if last_success is not None else started_at
        if since is not None and now - since > 2 * exp.interval_seconds + GRACE_SECONDS:
            reason = f"no successful run for {int(now - since)} s"
    return JobHealth(exp.job, reason is None, reason, last_outcome, last_success, failures,
                     last_error)
