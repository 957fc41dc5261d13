"""The job_runs table: one row per job run, read by `status`, the page and /healthz."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from daemon.store.tables import job_runs

DRY_RUN = "dry-run"  # counts["mode"] of a run that wrote nothing (apply --dry-run)


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    trigger: str
    started_at: float
    finished_at: float | None
    outcome: str
    counts: dict[str, Any]
    error: str | None


def start(conn: Connection, job: str, trigger: str, started_at: float) -> int:
    """Record a run as started; return its id."""
    result = conn.execute(
        insert(job_runs).values(job=job, trigger=trigger, started_at=started_at, outcome="running")
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def finish(
    conn: Connection,
    run_id: int,
    finished_at: float,
    outcome: str,
    counts: dict[str, Any],
    error: str | None,
) -> None:
    """Record how a run ended."""
    conn.execute(
        update(job_runs)
        .where(job_runs.c.id == run_id)
        .values(finished_at=finished_at, outcome=outcome, counts=json.dumps(counts), error=error)
    )


def cancel_if_running(conn: Connection, run_id: int, finished_at: float, error: str) -> bool:
    """Record a run still marked running as cancelled (the service stopped before it ended);
    True when it was."""
    result = conn.execute(
        update(job_runs)
        .where(job_runs.c.id == run_id, job_runs.c.outcome == "running")
        .values(finished_at=finished_at, outcome="cancelled", error=error)
    )
    return bool(result.rowcount)


def latest(conn: Connection, *, real_only: bool = False) -> dict[str, JobRun]:
    """The newest run of every job, by job name (`real_only`: dry runs, which write nothing,
    left out)."""
    runs = select(func.max(job_runs.c.id))
    if real_only:
        runs = runs.where(func.coalesce(func.json_extract(job_runs.c.counts, "$.mode"), "")
                          != DRY_RUN)
    newest = runs.group_by(job_runs.c.job).scalar_subquery()
    rows = conn.execute(select(job_runs).where(job_runs.c.id.in_(newest))).mappings()
    return {
        row["job"]: JobRun(
            id=row["id"], job=row["job"], trigger=row["trigger"], started_at=row["started_at"],
            finished_at=row["finished_at"], outcome=row["outcome"],
            counts=json.loads(row["counts"] or "{}"), error=row["error"],
        )
        for row in rows
    }
