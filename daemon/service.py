"""`plexfm run`: the scheduler and the web server in one process, until SIGTERM or SIGINT.

Stopping: the stop token is set, so running jobs stop at their next safe point (committed work
stays: windows, matches and Plex writes are each one transaction); no new run starts; the
process exits 0 within STOP_DEADLINE seconds. Starting after a crash or power loss just
carries on: every job resumes from what the store says.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from sqlalchemy import Engine

from daemon.config import WebConfig
from daemon.errors import ConfigError
from daemon.health import Health, evaluate
from daemon.jobs import JobSpec
from daemon.runs import JobRunner
from daemon.scheduler import Scheduler
from daemon.stopping import StopToken
from daemon.web import WebDeps, create_app
from daemon.web.server import WebServer

log = logging.getLogger(__name__)

STOP_DEADLINE = 8.0  # seconds left for running jobs after SIGTERM (systemd waits 15)


def health_function(
    engine: Engine, specs: list[JobSpec], started_at: float | None
) -> Callable[[], Health]:
    """Health of the enabled jobs, judged from the store."""
    expectations = [spec.expectation() for spec in specs]
    return lambda: evaluate(engine, expectations, started_at=started_at)


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
) -> int:
    """Serve until `stop` is set (SIGTERM/SIGINT set it); return the exit status."""
    started = time.time()
    scheduler = Scheduler(specs, runner, stop)
    web: WebServer | None = None
    if web_config.enabled:
        deps = WebDeps(engine=engine, health=health_function(engine, specs, started))
        try:
            web = WebServer(create_app(deps), web_config.host, web_config.port)
        except OSError as exc:
            raise ConfigError("web.port", f"cannot listen on {web_config.host}:"
                              f"{web_config.port}: {exc.strerror or exc}") from exc
    if install_signals:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            stop.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    if web is not None:
        web.start()
        if on_listening is not None:
            on_listening(web.url)
    scheduler.start()
    log.info("plexfm running (pid %s)", os.getpid())
    stop.wait()
    scheduler.shutdown()
    deadline = time.monotonic() + STOP_DEADLINE
    while scheduler.running() and time.monotonic() < deadline:
        stop.wait(0.05)
    still = scheduler.running()
    if web is not None:
        web.stop()
    if still:
        # Their committed work is safe (one transaction each); what is in flight rolls back.
        log.warning("jobs still running at the deadline, exiting anyway: %s",
                    ", ".join(sorted(still)))
        close()
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    close()
    log.info("plexfm stopped")
    return 0
