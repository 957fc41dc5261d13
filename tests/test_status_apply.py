"""`plexfm status` about applies: the last apply is the whole run (a live apply writes in
transactions of `apply.live_batch` plays, one apply_batches row each), and a dry run is never
shown as a job's last run (as on the status page)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from daemon.service.runs import JobRunner
from daemon.store import ledger
from daemon.store.engine import write
from daemon.store.status import collect_status, format_status


def _apply(engine: Engine, *chunks: int, backup: str = "/b/plex.db") -> Any:
    """A live apply job run writing `chunks` plays, one transaction each (as apply/job.py)."""
    def run() -> dict[str, Any]:
        for i, size in enumerate(chunks):
            with write(engine) as conn:
                batch = ledger.start_batch(conn, "live", 100)
                ledger.finish_batch(conn, batch, ledger.DONE, added=size, removed=i,
                                    backup=backup if i == 0 else None)
        return {"mode": "live", "added": sum(chunks), "removed": sum(range(len(chunks)))}
    return JobRunner(engine).run("apply", run, "schedule")


def test_the_last_apply_counts_every_transaction_of_the_run(engine: Engine) -> None:
    _apply(engine, 40)  # an older apply: not counted
    _apply(engine, 5000, 5000, 3056)
    with engine.connect() as conn:
        last = ledger.summary(conn)["last_apply"]
    assert (last["added"], last["removed"], last["transactions"]) == (13_056, 3, 3)
    assert last["state"] == ledger.DONE
    assert last["backup"] == "/b/plex.db"  # the run's backup, taken before its first write
    text = format_status(collect_status(engine, "alice"))
    assert "(live, +13,056 / -3 in 3 transactions)" in text


def test_one_transaction_and_batches_written_outside_a_job_run(engine: Engine) -> None:
    _apply(engine, 7)
    with engine.connect() as conn:
        assert ledger.summary(conn)["last_apply"]["added"] == 7
    text = format_status(collect_status(engine, "alice"))
    assert "(live, +7 / -0)" in text
    with write(engine) as conn:  # a batch with no job run around it (a test's Applier)
        batch = ledger.start_batch(conn, "offline", 100)
        ledger.finish_batch(conn, batch, ledger.FAILED, note="database is locked")
    with engine.connect() as conn:
        last = ledger.summary(conn)["last_apply"]
    assert (last["state"], last["added"], last["note"]) == ("failed", 0, "database is locked")


def test_a_dry_run_is_not_the_jobs_last_run(engine: Engine) -> None:
    _apply(engine, 12)
    with engine.connect() as conn:
        real = conn.exec_driver_sql("SELECT started_at FROM job_runs").scalar_one()
    JobRunner(engine).run("apply", lambda: {"mode": "dry-run", "to_add": 31}, "manual")
    status = collect_status(engine, "alice")
    assert status["jobs"]["apply"]["started_at"] == real
    assert status["jobs"]["apply"]["counts"]["added"] == 12
