"""Prometheus metrics read from the store at scrape time (so they survive restarts and count
what the CLI did too)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from daemon.service.health import Health
from daemon.store import matches, pagestats
from daemon.store import scrobbles as scrobble_queries
from daemon.web.dashboard import last_readback


class StoreCollector(Collector):
    """plexfm_* metrics: scrobbles, matches by status, queue, job runs and health."""

    def __init__(self, engine: Engine, health: Callable[[], Health]) -> None:
        self._engine = engine
        self._health = health

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self._engine.connect() as conn:
            stats = scrobble_queries.stats(conn)
            by_status = matches.status_counts(conn)
            queue = pagestats.queue_count(conn, time.time())
            runs = conn.exec_driver_sql(
                "SELECT job, outcome, count(*) FROM job_runs GROUP BY job, outcome").all()
            readback = last_readback(conn)
            durations = conn.exec_driver_sql(
                "SELECT job, finished_at - started_at, finished_at FROM job_runs WHERE id IN"
                " (SELECT max(id) FROM job_runs WHERE finished_at IS NOT NULL GROUP BY job)"
            ).all()
        yield GaugeMetricFamily("plexfm_scrobbles", "Scrobbles stored", value=stats.scrobbles)
        if stats.last_scrobble is not None:
            yield GaugeMetricFamily("plexfm_last_scrobble_timestamp_seconds",
                                    "Time of the newest stored scrobble",
                                    value=stats.last_scrobble)
        tracks = GaugeMetricFamily("plexfm_tracks", "Scrobbled tracks by match status",
                                   labels=["status"])
        for status, count in by_status.items():
            tracks.add_metric([status], count)
        yield tracks
        yield GaugeMetricFamily("plexfm_queue_size", "Scrobbled tracks waiting for a decision"
                                " (skipped ones included)", value=queue.waiting)
        yield GaugeMetricFamily("plexfm_queue_skipped", "Queued tracks skipped for now",
                                value=queue.skipped)
        total = CounterMetricFamily("plexfm_job_runs", "Job runs by outcome",
                                    labels=["job", "outcome"])
        for job, outcome, count in runs:
            total.add_metric([job, outcome], count)
        yield total
        last = GaugeMetricFamily("plexfm_job_last_duration_seconds",
                                 "Duration of the job's last finished run", labels=["job"])
        for job, seconds, _finished in durations:
            last.add_metric([job], seconds)
        yield last
        health = self._health()
        success = GaugeMetricFamily("plexfm_job_last_success_timestamp_seconds",
                                    "Time of the job's last successful run", labels=["job"])
        healthy = GaugeMetricFamily("plexfm_job_healthy", "1 when the job is healthy",
                                    labels=["job"])
        for job in health.jobs:
            if job.last_success is not None:
                success.add_metric([job.job], job.last_success)
            healthy.add_metric([job.job], 1 if job.ok else 0)
        yield success
        yield healthy
        if readback is not None and readback.get("status") in ("agrees", "disagrees"):
            yield GaugeMetricFamily("plexfm_apply_readback_agrees",
                                    "1 when Plex showed what the last apply wrote, 0 when not",
                                    value=1 if readback["status"] == "agrees" else 0)
            yield GaugeMetricFamily("plexfm_apply_readback_disagreements",
                                    "Tracks read back after the last apply on which Plex "
                                    "disagreed with its database",
                                    value=readback.get("disagreements", 0))
        yield GaugeMetricFamily("plexfm_healthy", "1 when every enabled job is healthy",
                                value=1 if health.ok else 0)
