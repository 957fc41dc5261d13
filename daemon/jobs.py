"""The service's jobs as a readable table: what runs, how often, and what it triggers.

Each job is a plain function returning counts; the scheduler runs them and the CLI runs the
very same functions once. `job_table` binds them to this service's clients and store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from daemon.config import Config
from daemon.health import Expectation
from daemon.ingest import PullSettings, pull
from daemon.lastfm import LastfmClient
from daemon.progress import LogProgress
from daemon.stopping import StopToken

if TYPE_CHECKING:
    from daemon.plex.library import LibrarySource

log = logging.getLogger(__name__)

JobFunction = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job."""

    name: str
    run: JobFunction
    interval_seconds: float | None  # None: only when triggered (and once a day as a safety net)
    run_at_start: bool = False
    retry_budget: int = 3
    then: Callable[[dict[str, Any]], Sequence[str]] = field(default=lambda _counts: ())
    """Jobs to run right after a successful run, given its counts."""

    def expectation(self) -> Expectation:
        return Expectation(self.name, self.interval_seconds, self.retry_budget)


def pull_settings(config: Config) -> PullSettings:
    """Plain pull settings from the configuration."""
    lastfm = config.lastfm
    return PullSettings(
        user=lastfm.user,
        page_size=lastfm.page_size,
        window_pages=lastfm.window_pages,
        max_in_flight=lastfm.max_in_flight,
        overlap_seconds=int(lastfm.overlap_days * 86400),
    )


def job_table(
    config: Config,
    engine: Engine,
    stop: StopToken,
    *,
    lastfm: LastfmClient,
    library_source: Callable[[], LibrarySource] | None,
) -> list[JobSpec]:
    """Every enabled job of the service, bound to its dependencies."""
    schedule = config.schedule
    budget = schedule.retry_budget
    specs: list[JobSpec] = []

    def run_pull() -> dict[str, Any]:
        return pull(lastfm, engine, pull_settings(config), stop=stop,
                    progress=LogProgress("pull", interval=30.0))

    def after_pull(counts: dict[str, Any]) -> Sequence[str]:
        return ("match",) if schedule.match_after_pull and counts.get("added") else ()

    if schedule.pull_minutes > 0:
        specs.append(JobSpec("pull", run_pull, schedule.pull_minutes * 60, run_at_start=True,
                             retry_budget=budget, then=after_pull))

    def run_match() -> dict[str, Any]:
        from daemon import reconcile  # pandas and the matcher load with the first match

        return reconcile.match(engine)

    specs.append(JobSpec("match", run_match, None, run_at_start=True, retry_budget=budget))

    if library_source is not None and schedule.library_minutes > 0:
        source_factory = library_source

        def run_library() -> dict[str, Any]:
            from daemon import reconcile

            return reconcile.refresh_library(source_factory(), engine)

        specs.append(JobSpec("library", run_library, schedule.library_minutes * 60,
                             run_at_start=True, retry_budget=budget))
    return specs
