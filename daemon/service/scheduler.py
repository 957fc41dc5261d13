"""APScheduler 3.x running the job table: one run of each job at a time, overlaps coalesced.

Every APScheduler import lives here, so a move to another scheduler touches one file. A job
triggered while it runs is not queued: the triggers collapse into one follow-up run after the
current one. Runs are recorded by the JobRunner (job_runs, failures logged on edges).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from daemon.service.jobs import JobSpec
from daemon.service.runs import JobRunner
from daemon.stopping import StopToken

log = logging.getLogger(__name__)

SAFETY_NET = timedelta(days=1)  # jobs without an interval still run daily
MISFIRE_GRACE_SECONDS = 3600


class Scheduler:
    """Runs `specs` on their intervals and on demand; `trigger(name)` runs one now."""

    def __init__(self, specs: list[JobSpec], runner: JobRunner, stop: StopToken) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._runner = runner
        self._stop = stop
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a job stops running
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 2,
                          "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        )

    def start(self) -> None:
        """Register every job and start the scheduler thread."""
        now = datetime.now().astimezone()
        for spec in self._specs.values():
            if spec.daily_at is not None:
                self._scheduler.add_job(
                    self._run, CronTrigger(hour=spec.daily_at.hour, minute=spec.daily_at.minute),
                    args=[spec.name, "schedule"], id=spec.name, name=spec.name,
                    replace_existing=True,
                )
                if spec.run_at_start:  # e.g. restarted inside the window: carry on
                    self.trigger(spec.name, "start")
                continue
            interval = timedelta(seconds=spec.interval_seconds) if spec.interval_seconds \
                else SAFETY_NET
            self._scheduler.add_job(
                self._run, IntervalTrigger(seconds=interval.total_seconds()),
                args=[spec.name, "schedule"], id=spec.name, name=spec.name,
                replace_existing=True, next_run_time=now if spec.run_at_start else now + interval,
            )
        self._scheduler.start()
        log.info("scheduler started: %s", ", ".join(
            f"{s.name} daily at {s.daily_at:%H:%M}" if s.daily_at
            else f"{s.name} every {s.interval_seconds / 60:g} min" if s.interval_seconds
            else f"{s.name} on demand" for s in self._specs.values()))

    def trigger(self, name: str, why: str = "manual") -> bool:
        """Run job `name` as soon as possible (coalesced with a run in progress)."""
        if name not in self._specs or self._stop.stopped:
            return False
        self._scheduler.add_job(self._run, args=[name, why], id=f"{name}-now-{why}",
                                replace_existing=True, misfire_grace_time=None)
        return True

    def running(self) -> set[str]:
        with self._lock:
            return set(self._running)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job runs, at most `timeout` seconds; True when none runs."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout)

    def waiting(self) -> set[str]:
        """Jobs triggered while running: one more run of each follows the current one."""
        with self._lock:
            return set(self._again)

    def next_runs(self) -> dict[str, datetime | None]:
        """When each job runs next (None when paused)."""
        runs: dict[str, datetime | None] = {}
        for name in self._specs:
            job: Any = self._scheduler.get_job(name)
            runs[name] = job.next_run_time if job is not None else None
        return runs

    def shutdown(self) -> None:
        """Take no new runs; running jobs finish on their own (they watch the stop token)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _call(self, spec: JobSpec, why: str) -> tuple[bool, dict[str, Any]]:
        if spec.record:
            result = self._runner.run(spec.name, spec.run, trigger=why)
            return result.ok, result.counts
        try:  # a light poll: failures are expected to be transient and are not recorded
            return True, spec.run()
        except Exception as exc:
            log.debug("%s failed: %s", spec.name, exc)
            return False, {}

    def _run(self, name: str, why: str) -> None:
        with self._lock:
            if name in self._running:
                self._again.add(name)
                return
            self._running.add(name)
        try:
            while not self._stop.stopped:
                spec = self._specs[name]
                ok, counts = self._call(spec, why)
                if ok:
                    for follower in spec.then(counts):
                        self.trigger(follower, f"after {name}")
                with self._lock:  # checked and cleared under one lock: no trigger is lost
                    if name not in self._again:
                        self._running.discard(name)
                        self._idle.notify_all()
                        return
                    self._again.discard(name)
                why = "coalesced"
        finally:
            with self._lock:
                self._running.discard(name)
                self._idle.notify_all()
