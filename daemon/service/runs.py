"""Running a job: every run recorded in job_runs, failures logged on edges only.

Like Home Assistant's coordinator: an expected failure logs one ERROR line when a job starts
failing and one INFO line when it recovers, never once per retry; an unexpected exception
always logs its traceback. Errors are stored as one redacted line.

Every job starts by checking the store file (device and inode): a store deleted or replaced
while plexfm runs fails the run with that reason (not recorded: the store is what is gone).
Runs still open when the service exits are closed as 'cancelled' (`close_open_runs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from daemon.errors import JobCancelledError, PlexfmError, StoreError
from daemon.store import jobruns
from daemon.store.engine import check_store, write

log = logging.getLogger(__name__)

JobFunction = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class RunResult:
    job: str
    ok: bool
    counts: dict[str, Any]
    error: str | None
    exception: BaseException | None


class JobRunner:
    """Runs job functions and records each run; safe to share between threads."""

    def __init__(
        self,
        engine: Engine,
        *,
        redact: Callable[[str], str] = str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._redact = redact
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[int, str] = {}  # run id -> job, for the runs in progress
        with engine.connect() as conn:
            self._failing = {job: run.outcome == "error" for job, run in
                             jobruns.latest(conn).items()}

    def run(self, job: str, function: JobFunction, trigger: str = "manual") -> RunResult:
        """Run `function` as `job`; never raises for the job's own failure."""
        try:
            check_store(self._engine)
            with write(self._engine) as conn:
                run_id = jobruns.start(conn, job, trigger, self._clock())
        except StoreError as exc:
            return self._store_gone(job, exc)
        with self._lock:
            self._open[run_id] = job
        counts: dict[str, Any] = {}
        error: str | None = None
        caught: BaseException | None = None
        cancelled = False
        try:
            counts = function()
        except JobCancelledError as exc:
            caught, error, cancelled = exc, "stopped: the service is shutting down", True
            log.info("job %s stopped at a safe point (shutting down)", job)
        except PlexfmError as exc:
            caught, error = exc, self._one_line(exc)
            if not self._failing.get(job):
                log.error("job %s failed: %s", job, error)
            else:
                log.debug("job %s still failing: %s", job, error)
        except Exception as exc:
            caught, error = exc, self._one_line(exc)
            log.exception("job %s failed unexpectedly: %s", job, error)
        outcome = "cancelled" if cancelled else "error" if caught else "ok"
        if not caught and self._failing.get(job):
            log.info("job %s recovered", job)
        if not cancelled:
            self._failing[job] = caught is not None
        try:
            with write(self._engine) as conn:
                jobruns.finish(conn, run_id, self._clock(), outcome, counts, error)
        except StoreError as exc:  # the store file went away during the run
            return self._store_gone(job, exc)
        finally:
            with self._lock:
                self._open.pop(run_id, None)
        return RunResult(job, caught is None, counts, error, caught)

    def close_open_runs(self, reason: str, *, busy_timeout_ms: int = 2000) -> list[str]:
        """Record every run still in progress as cancelled (the service exits without waiting
        for it); return their jobs. Waits at most `busy_timeout_ms` for the write lock."""
        with self._lock:
            runs, self._open = self._open, {}
        if not runs:
            return []
        try:
            with write(self._engine, busy_timeout_ms=busy_timeout_ms) as conn:
                for run_id in runs:
                    jobruns.cancel_if_running(conn, run_id, self._clock(), reason)
        except (PlexfmError, SQLAlchemyError) as exc:
            log.warning("could not record runs of %s as cancelled: %s",
                        ", ".join(sorted(runs.values())), self._one_line(exc))
        return sorted(runs.values())

    def _store_gone(self, job: str, exc: StoreError) -> RunResult:
        error = self._one_line(exc)
        if not self._failing.get(job):
            log.error("job %s failed: %s", job, error)
        self._failing[job] = True
        return RunResult(job, False, {}, error, exc)

    def _one_line(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if not isinstance(exc, PlexfmError):
            text = f"{exc.__class__.__name__}: {text}"
        return self._redact(text)[:500]
