"""Composition root: builds clients, store and job bindings from a Config.

Nothing imports this module but the CLI; everything else receives what it needs as arguments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from daemon.config import Config
from daemon.ingest import PullSettings
from daemon.lastfm import LastfmClient
from daemon.logs import Redactor
from daemon.pacing import Pacer, Sleep
from daemon.runs import JobRunner
from daemon.store.engine import open_store


def build_lastfm_client(config: Config, *, sleep: Sleep = time.sleep) -> LastfmClient:
    """A last.fm client paced to the configured rate."""
    lastfm = config.lastfm
    return LastfmClient(
        api_url=lastfm.api_url,
        api_key=lastfm.api_key,
        pacer=Pacer(lastfm.requests_per_second, sleep=sleep),
        timeout=lastfm.timeout_seconds,
        max_retries=lastfm.max_retries,
        sleep=sleep,
    )


def pull_settings(config: Config) -> PullSettings:
    lastfm = config.lastfm
    return PullSettings(
        user=lastfm.user,
        page_size=lastfm.page_size,
        window_pages=lastfm.window_pages,
        max_in_flight=lastfm.max_in_flight,
        overlap_seconds=int(lastfm.overlap_days * 86400),
    )


@dataclass
class App:
    """Everything a command needs, built once."""

    config: Config
    engine: Engine
    runner: JobRunner
    redact: Redactor = field(default_factory=Redactor)

    def close(self) -> None:
        self.engine.dispose()


def build(config: Config, redact: Redactor | None = None) -> App:
    """Open the store (migrating it) and wire the job runner."""
    redact = redact or Redactor(config.secrets())
    engine = open_store(config.store_url)
    return App(config=config, engine=engine, runner=JobRunner(engine, redact=redact),
               redact=redact)
