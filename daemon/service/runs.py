"""Running a job: every run recorded in job_runs, failures logged on edges only.

Like Home Assistant's coordinator: an expected failure logs one ERROR line when a job starts
failing and one INFO line when it recovers, never once per retry; an unexpected exception
always logs its traceback. Errors are stored as one redacted line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from daemon.errors import JobCancelledError, PlexfmError
from daemon.store import jobruns
from daemon.store.engine import write

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
        with engine.connect() as conn:
            self._failing = {job: run.outcome == "error" for job, run in
                             jobruns.latest(conn).items()}

    def run(self, job: str, function: JobFunction, trigger: str = "manual") -> RunResult:
        """Run `function` as `job`; never raises for the job's own failure."""
        with write(self._engine) as conn:
            run_id = jobruns.start(conn, job, trigger, self._clock())
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
        with write(self._engine) as conn:
            jobruns.finish(conn, run_id, self._clock(), outcome, counts, error)
        return RunResult(job, caught is None, counts, error, caught)

    def _one_line(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if not isinstance(exc, PlexfmError):
            text = f"{exc.__class__.__name__}: {text}"
        return self._redact(text)[:500]
