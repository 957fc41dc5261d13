"""The service's jobs as a readable table: what runs, how often, and what it triggers.

Each job is a plain function returning counts; the scheduler runs them and the CLI runs the
very same functions once. `job_table` binds them to this service's clients and store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from daemon.apply.window import in_window
from daemon.config import Config
from daemon.lastfm.client import LastfmClient
from daemon.lastfm.pull import PullSettings, pull
from daemon.listenbrainz import pull as lb_pull
from daemon.listenbrainz.client import ListenbrainzClient
from daemon.reconcile.worker import match_in_worker
from daemon.service.health import Expectation
from daemon.service.progress import LogProgress
from daemon.service.runs import JobFunction
from daemon.stopping import StopToken
from daemon.store.engine import store_file

if TYPE_CHECKING:
    from daemon.apply.job import Applier
    from daemon.plex.library import LibrarySource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job."""

    name: str
    run: JobFunction
    interval_seconds: float | None  # None: only when triggered (and once a day as a safety net)
    run_at_start: bool = False
    daily_at: dt_time | None = None  # instead of an interval: every day at this local time
    retry_budget: int = 3
    then: Callable[[dict[str, Any]], Sequence[str]] = field(default=lambda _counts: ())
    """Jobs to run right after a successful run, given its counts."""
    record: bool = True  # False: a light poll, not written to job_runs nor judged by health

    def expectation(self) -> Expectation:
        return Expectation(self.name, self.interval_seconds, self.retry_budget)


def warn_butler_overlap(window: tuple[dt_time, dt_time],
                        butler: tuple[int, int] | None) -> bool:
    """Log a warning when the window overlaps Plex's Butler hours; True when it does."""
    if butler is None:
        return False
    start, end = butler
    butler_hours = {h % 24 for h in range(start, end if end > start else end + 24)}
    first, last = window[0].hour, window[1].hour + (1 if window[1].minute else 0)
    window_hours = {h % 24 for h in range(first, last if last > first else last + 24)}
    if butler_hours & window_hours:
        log.warning("apply.window %s-%s overlaps Plex's Butler hours %02d:00-%02d:00, when Plex "
                    "backs up and optimizes the same database: move one of them",
                    f"{window[0]:%H:%M}", f"{window[1]:%H:%M}", start, end)
        return True
    return False


def _plex_watch(stamp: Callable[[], str | None], minutes: float) -> JobSpec:
    """A light poll of the music section's change stamps: when Plex reports a change, the
    library job runs now rather than at its next hour."""
    seen: dict[str, str | None] = {}

    def look() -> dict[str, Any]:
        now = stamp()
        changed = "last" in seen and now is not None and now != seen["last"]
        if now is not None:
            seen["last"] = now
        return {"changed": changed}

    def after(counts: dict[str, Any]) -> Sequence[str]:
        if counts.get("changed"):
            log.info("Plex reports a library change: refreshing the mirror now")
            return ("library",)
        return ()

    return JobSpec("plex-watch", look, minutes * 60, run_at_start=True, then=after,
                   record=False)


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


def lb_pull_settings(config: Config) -> lb_pull.LbPullSettings:
    """Plain ListenBrainz pull settings: its listens are stored as lastfm.user's plays."""
    listenbrainz = config.listenbrainz
    return lb_pull.LbPullSettings(
        lb_user=listenbrainz.user, store_user=config.lastfm.user,
        page_size=listenbrainz.page_size,
        overlap_seconds=int(listenbrainz.overlap_days * 86400),
    )


def job_table(
    config: Config,
    engine: Engine,
    stop: StopToken,
    *,
    lastfm: LastfmClient,
    library_source: Callable[[], LibrarySource] | None,
    applier: Applier | None = None,
    butler_hours: Callable[[], tuple[int, int] | None] | None = None,
    library_stamp: Callable[[], str | None] | None = None,
    listenbrainz: ListenbrainzClient | None = None,
) -> list[JobSpec]:
    """Every enabled job of the service, bound to its dependencies."""
    schedule = config.schedule
    budget = schedule.retry_budget
    specs: list[JobSpec] = []

    def run_pull() -> dict[str, Any]:
        return pull(lastfm, engine, pull_settings(config), stop=stop,
                    progress=LogProgress("pull", interval=30.0))

    def after_pull(counts: dict[str, Any]) -> Sequence[str]:
        if not counts.get("added"):
            return ()
        # new scrobbles: match them, and fetch tags of artists not seen before (the tags job
        # asks only for those, and folds the analytics rollups)
        followers = ["match"] if schedule.match_after_pull else []
        if config.tags.interval_minutes > 0:
            followers.append("tags")
        return followers

    if schedule.pull_minutes > 0:
        specs.append(JobSpec("pull", run_pull, schedule.pull_minutes * 60, run_at_start=True,
                             retry_budget=budget, then=after_pull))
    if listenbrainz is not None and schedule.pull_minutes > 0:
        lb_client = listenbrainz

        def run_listenbrainz() -> dict[str, Any]:
            return lb_pull.pull(lb_client, engine, lb_pull_settings(config), stop=stop)

        specs.append(JobSpec("listenbrainz", run_listenbrainz, schedule.pull_minutes * 60,
                             run_at_start=True, retry_budget=budget, then=after_pull))

    def run_match(library_diff: Any = None) -> dict[str, Any]:
        """Matching in a worker process: pandas never holds the page's interpreter lock."""
        opened = store_file(engine)
        return match_in_worker(config.store_url, expect=opened.identity if opened else None,
                               library_diff=library_diff, stop=stop,
                               log_level=config.log.level, secrets=config.secrets())

    window = config.apply_window

    def after_match(counts: dict[str, Any]) -> Sequence[str]:
        """Inside the window, newly matched plays go to Plex at once (not tomorrow)."""
        # new plays of tracks matched before fold in without new matches: they count too
        if applier is None or window is None or not (counts.get("matched")
                                                     or counts.get("folded_scrobbles")):
            return ()
        return ("apply",) if in_window(window, datetime.now().astimezone()) else ()

    specs.append(JobSpec("match", run_match, None, run_at_start=True, retry_budget=budget,
                         then=after_match))

    if library_source is not None and schedule.library_minutes > 0:
        source_factory = library_source

        def run_library() -> dict[str, Any]:
            from daemon.reconcile import jobs as reconcile

            return reconcile.refresh_library(source_factory(), engine, rematch=run_match)

        def after_library(counts: dict[str, Any]) -> Sequence[str]:
            """A library change re-matches inside the job; chain apply as a match would."""
            return after_match(counts.get("match") or {})

        specs.append(JobSpec("library", run_library, schedule.library_minutes * 60,
                             run_at_start=True, retry_budget=budget, then=after_library))
        if library_stamp is not None and schedule.plex_watch_minutes > 0:
            specs.append(_plex_watch(library_stamp, schedule.plex_watch_minutes))
    if config.tags.interval_minutes > 0:
        def run_tags() -> dict[str, Any]:
            from daemon.analytics.report import AnalyticsSettings
            from daemon.lastfm import tags

            analytics = AnalyticsSettings.from_config(config)
            return tags.run(lastfm, engine, tags.TagSettings.from_config(config),
                            analytics.rules, analytics.zone, stop=stop)

        def after_tags(counts: dict[str, Any]) -> Sequence[str]:
            """A run that stopped at its time budget is followed by the next one at once."""
            return ("tags",) if counts.get("left") else ()

        specs.append(JobSpec("tags", run_tags, config.tags.interval_minutes * 60,
                             run_at_start=True, retry_budget=budget, then=after_tags))
    if applier is not None and window is None:
        log.info("scheduled apply off (apply.window: off): run plexfm apply --now to write")
    if applier is not None and window is not None:
        warn_butler_overlap(window, butler_hours() if butler_hours else None)
        runner = applier

        def run_apply() -> dict[str, Any]:
            return runner.run()

        # also at start: a service (re)started inside the window applies at once; outside it,
        # the run records "outside the window" and the daily trigger does the work
        specs.append(JobSpec("apply", run_apply, None, daily_at=window[0], run_at_start=True,
                             retry_budget=1))
    return specs
