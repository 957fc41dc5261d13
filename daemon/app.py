"""Composition root: builds clients, store and job bindings from a Config.

Nothing imports this module but the CLI; everything else receives what it needs as arguments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from daemon.config import Config
from daemon.errors import ConfigError
from daemon.lastfm.client import LastfmClient
from daemon.lastfm.pacing import Pacer, Sleep
from daemon.listenbrainz.client import ListenbrainzClient
from daemon.logs import Redactor
from daemon.service.jobs import JobSpec, job_table
from daemon.service.runs import JobRunner
from daemon.stopping import StopToken
from daemon.store.engine import open_store

if TYPE_CHECKING:
    from daemon.apply.job import Applier
    from daemon.plex.library import LibrarySource

log = logging.getLogger(__name__)


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


def build_listenbrainz_client(
    config: Config, *, sleep: Sleep = time.sleep
) -> ListenbrainzClient | None:
    """A ListenBrainz client when listenbrainz.user is set (None: the source is off)."""
    listenbrainz = config.listenbrainz
    if not listenbrainz.user:
        return None
    return ListenbrainzClient(
        api_url=listenbrainz.api_url, token=listenbrainz.token,
        timeout=listenbrainz.timeout_seconds, max_retries=listenbrainz.max_retries, sleep=sleep,
    )


def build_library_source(config: Config) -> LibrarySource:
    """The Plex library to mirror: the database file when reachable, else the HTTP API."""
    # imported here: plexapi and the readers cost start-up time that `plexfm pull` never needs
    from daemon.plex.library_db import DatabaseLibrary
    from daemon.plex.library_http import HttpLibrary

    plex = config.plex
    if plex.database and (Path(plex.database).is_file() or not plex.url):
        discs = None
        if plex.url and plex.token:  # the database has no known disc column: ask the server
            from daemon.plex.discs import ServerDiscs

            discs = ServerDiscs(plex.url, plex.token, timeout=plex.timeout_seconds)
        return DatabaseLibrary(plex.database, plex.section, discs=discs)
    if plex.url:
        if not plex.token:
            raise ConfigError("plex.token", "required with plex.url (the X-Plex-Token)")
        return HttpLibrary(plex.url, plex.token, plex.section, timeout=plex.timeout_seconds)
    raise ConfigError("plex.database", "set plex.database (Plex's database file) or plex.url "
                      "and plex.token to mirror the library")


def build_applier(config: Config, engine: Engine, stop: StopToken | None = None) -> Applier:
    """The apply job's runner for this configuration (Plex's database and, if set, server)."""
    from daemon.apply.job import Applier, ApplySettings
    from daemon.config.checks import parse_window
    from daemon.plex.server import PlexServerProbe

    plex, apply = config.plex, config.apply
    if apply.mode != "api" and not plex.database:
        raise ConfigError("plex.database", f"required by apply.mode {apply.mode} (set it, or "
                          "use apply.mode api with plex.url and plex.token)")
    if apply.mode == "api" and not (plex.url and plex.token):
        raise ConfigError("plex.url", "apply.mode api needs plex.url and plex.token")
    probe = PlexServerProbe(plex.url, plex.token, timeout=min(plex.timeout_seconds, 10)) \
        if plex.url else None
    window = config.apply_window or parse_window("00:00-23:59")  # off: only --now applies
    settings = ApplySettings(
        database=Path(plex.database), mode=apply.mode, window=window,
        accounts=config.accounts, slack_seconds=int(apply.dedupe_slack_minutes * 60),
        backup_dir=Path(apply.backup_dir) if apply.backup_dir else config.data_dir / "backups",
        backups_keep=apply.backups_keep, lock_path=config.data_dir / "apply.lock",
        stop_command=apply.stop_command, start_command=apply.start_command,
        session_poll_seconds=apply.session_poll_seconds,
        plex_stop_timeout=apply.plex_stop_timeout_seconds, live_batch=apply.live_batch_size,
        allow_unknown_schema=apply.allow_unknown_schema,
    )
    return Applier(engine, settings, probe=probe, stop=stop)


def service_jobs(application: App, stop: StopToken) -> list[JobSpec]:
    """The jobs this configuration enables, bound to this application's clients and store."""
    config = application.config
    library: Callable[[], LibrarySource] | None = None
    if config.plex.database or config.plex.url:
        def library() -> LibrarySource:
            return build_library_source(config)
    else:
        log.info("library job off: set plex.database or plex.url to mirror the library")
    applier = None
    if config.plex.database or config.apply.mode == "api":
        applier = build_applier(config, application.engine, stop)
    else:
        log.info("apply job off: set plex.database (or apply.mode api) to write plays to Plex")
    butler = stamp = None
    if config.plex.url and config.plex.token:
        from daemon.plex.server import PlexServerProbe

        probe = PlexServerProbe(config.plex.url, config.plex.token, timeout=5)
        butler = probe.butler_hours
        section = config.plex.section

        def stamp() -> str | None:
            return probe.section_stamp(section)
    return job_table(
        config, application.engine, stop,
        lastfm=build_lastfm_client(config, sleep=stop.sleep),
        library_source=library, applier=applier, butler_hours=butler, library_stamp=stamp,
        listenbrainz=build_listenbrainz_client(config, sleep=stop.sleep),
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
