"""`plexfm run`: the scheduler and the web server in one process, until SIGTERM or SIGINT.

Stopping: the stop token is set, so running jobs stop at their next safe point (committed work
stays: windows, matches and Plex writes are each one transaction); no new run starts; the
process exits 0 within STOP_DEADLINE seconds, every run it started recorded as ended (those
still running at the deadline as 'cancelled'). Starting after a crash or power loss just
carries on: every job resumes from what the store says.

Stopping is not left to chance: the signal handlers only set the token (no lock, no logging);
the main thread never blocks without a timeout (a process-directed signal may be delivered to
any thread, and then only wakes the main thread if it comes back to the interpreter), so a
SIGTERM is acted on within POLL_SECONDS whichever thread caught it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import time as dt_time
from types import FrameType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from daemon.config.sections import WebConfig
from daemon.errors import ConfigError
from daemon.service.health import Health, evaluate
from daemon.service.jobs import JobSpec
from daemon.service.runs import JobRunner
from daemon.service.scheduler import Scheduler
from daemon.stopping import StopToken
from daemon.web import WebDeps, create_app
from daemon.web.auth import Protection, is_loopback
from daemon.web.refresh import StatsRefresher
from daemon.web.server import WebServer

if TYPE_CHECKING:
    from daemon.analytics.report import AnalyticsSettings

log = logging.getLogger(__name__)

STOP_DEADLINE = 8.0  # seconds left for running jobs after SIGTERM (systemd waits 15)
POLL_SECONDS = 0.2  # the main thread's longest wait
CANCELLED_AT_EXIT = "stopped: the service exited before the run reached a safe point"


def health_function(
    engine: Engine, specs: list[JobSpec], started_at: float | None
) -> Callable[[], Health]:
    """Health of the enabled jobs, judged from the store."""
    expectations = [spec.expectation() for spec in specs if spec.record]
    return lambda: evaluate(engine, expectations, started_at=started_at)


def protection(web_config: WebConfig) -> Protection:
    """How the status page is protected; ConfigError (exit 2) when it listens beyond this
    machine without a password or a trusted proxy header."""
    chosen = Protection(password_hash=web_config.password,
                        trusted_header=web_config.trusted_header.strip())
    if not chosen.active and not is_loopback(web_config.host):
        raise ConfigError("web.host", f"{web_config.host} is reachable from other machines: "
                          "set web.password (a hash from `plexfm web-password`) or "
                          "web.trusted_header first, or keep web.host 127.0.0.1")
    return chosen


def refreshing(spec: JobSpec, refresher: StatsRefresher) -> JobSpec:
    """`spec` whose runs ask for the page's cached counts to be recomputed right after."""
    job = spec.run

    def run_then_refresh() -> dict[str, Any]:
        try:
            return job()
        finally:
            refresher.request(urgent=True)

    return dataclasses.replace(spec, run=run_then_refresh)


def run(
    specs: list[JobSpec],
    runner: JobRunner,
    engine: Engine,
    web_config: WebConfig,
    *,
    stop: StopToken,
    close: Callable[[], None],
    install_signals: bool = True,
    on_listening: Callable[[str], None] | None = None,
    users: Sequence[str] = (),
    window: tuple[dt_time, dt_time] | None = None,
    secrets: Sequence[str] = (),
    analytics: AnalyticsSettings | None = None,
) -> int:
    """Serve until `stop` is set (SIGTERM/SIGINT set it); return the exit status.

    `users`: the last.fm users whose plays go to Plex; `window`: the apply window (shown on
    the page); `secrets`: values no response may carry.
    """
    started = time.time()
    web: WebServer | None = None
    refresher: StatsRefresher | None = None
    if web_config.enabled:
        guard = protection(web_config)
        # the page's threads share the interpreter with CPU-bound jobs (matching): a shorter
        # switch interval than the default 5 ms keeps a page's latency low while a job computes
        sys.setswitchinterval(0.001)
        refresher = StatsRefresher(engine, users)
        # a light poll (record=False) changes nothing: the job it starts refreshes
        specs = [refreshing(spec, refresher) if spec.record else spec for spec in specs]
    scheduler = Scheduler(specs, runner, stop)
    if web_config.enabled and refresher is not None:
        names = tuple(spec.name for spec in specs)
        deps = WebDeps(
            engine=engine, health=health_function(engine, specs, started),
            trigger=lambda name: scheduler.trigger(name, "web"), next_runs=scheduler.next_runs,
            running=scheduler.running, jobs=names,
            on_demand=tuple(s.name for s in specs if s.interval_seconds is None
                            and s.daily_at is None),
            unlogged=tuple(s.name for s in specs if not s.record),
            window=window if "apply" in names else None, users=tuple(users),
            protection=guard, stats_changed=refresher.request, secrets=tuple(secrets),
            analytics=analytics,
        )
        try:
            web = WebServer(create_app(deps), web_config.host, web_config.port)
        except OSError as exc:
            raise ConfigError("web.port", f"cannot listen on {web_config.host}:"
                              f"{web_config.port}: {exc.strerror or exc}") from exc
        log.info("status page: %s", guard.describe())
        refresher.request()
    previous = _install_signal_handlers(stop) if install_signals else {}
    try:
        if web is not None:
            web.start()
            if on_listening is not None:
                on_listening(web.url)
        scheduler.start()
        log.info("plexfm running (pid %s)", os.getpid())
        while not stop.wait(POLL_SECONDS):
            pass
        why = stop.signal
        log.info("%s: stopping", f"received {signal.Signals(why).name}" if why else "asked")
        return _shut_down(scheduler, runner, web, close, deadline=STOP_DEADLINE)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _install_signal_handlers(stop: StopToken) -> dict[int, Any]:
    """SIGTERM and SIGINT set the stop token and do nothing else; return the old handlers."""
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.stop_from_signal(signum)

    return {signum: signal.signal(signum, on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)}


def _shut_down(scheduler: Scheduler, runner: JobRunner, web: WebServer | None,
               close: Callable[[], None], *, deadline: float) -> int:
    scheduler.shutdown()
    scheduler.wait_idle(deadline)
    still = scheduler.running()
    if still:
        # Their committed work is safe (one transaction each); what is in flight rolls back.
        log.warning("jobs still running at the deadline, exiting anyway: %s",
                    ", ".join(sorted(still)))
    runner.close_open_runs(CANCELLED_AT_EXIT)
    if web is not None:
        web.stop()
    close()
    if still:  # their threads would hold the interpreter's exit
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    log.info("plexfm stopped")
    return 0
