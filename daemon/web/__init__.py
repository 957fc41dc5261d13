"""The embedded web application: the status page, its JSON API, /healthz and /metrics.

`create_app` is the app factory (no module-level app): everything it serves comes from the
store and from the functions it is given in `WebDeps` (the scheduler's trigger and next runs),
never from the configuration (so no secret can reach a page). Blueprints: web/pages.py (HTML),
web/api.py (JSON and every POST), web/auth.py (login, who may connect), web/csrf.py.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify
from flask.json.provider import DefaultJSONProvider
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException

from daemon.service.health import Health
from daemon.web import auth, csrf, unavailable
from daemon.web.actions import Actions
from daemon.web.auth import Protection
from daemon.web.metrics import StoreCollector
from daemon.web.sessions import LIFETIME

if TYPE_CHECKING:
    from daemon.analytics.report import AnalyticsSettings

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
}


MAX_BODY = 1024 * 1024  # bytes of a request body (413 beyond); the largest real one is < 1 kB


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, where a body nested too deeply to parse is bad JSON (a 400), not a
    RecursionError (a 500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def _no_trigger(_name: str) -> bool:
    return False


@dataclass(frozen=True)
class WebDeps:
    """What the web application reads from and may call."""

    engine: Engine
    health: Callable[[], Health]
    trigger: Callable[[str], bool] = _no_trigger
    """Run a job now (the scheduler's trigger); False when the job is not enabled."""
    next_runs: Callable[[], dict[str, datetime | None]] = dict
    running: Callable[[], set[str]] = set
    jobs: tuple[str, ...] = ()  # the enabled jobs
    on_demand: tuple[str, ...] = ()  # jobs with no interval: run when triggered (and daily)
    unlogged: tuple[str, ...] = ()  # light polls the service does not write to job_runs
    window: tuple[dt_time, dt_time] | None = None  # the apply window, None: no scheduled apply
    users: tuple[str, ...] = ()  # the last.fm users whose plays go to Plex
    protection: Protection = field(default_factory=Protection)
    stats_changed: Callable[[], None] = lambda: None
    """Ask for the cached counts to be recomputed (after a decision)."""
    secrets: tuple[str, ...] = ()
    """Values that must never leave in a response (belt and braces: nothing here holds them)."""
    session_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    clock: Callable[[], float] = time.monotonic
    """Seconds, for sessions' lifetime and the login throttle (tests pass their own)."""
    analytics: AnalyticsSettings | None = None  # None: no Analytics page


def create_app(deps: WebDeps) -> Flask:
    """The Flask application: pages, JSON API, /healthz and /metrics."""
    from daemon.web import analytics, api, pages

    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config.update(
        SECRET_KEY=deps.session_key, SESSION_COOKIE_NAME="plexfm_session",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        # the signature's age limit; sessions themselves end sooner (web/sessions.py)
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=LIFETIME), JSON_SORT_KEYS=False,
        TEMPLATES_AUTO_RELOAD=False, SEND_FILE_MAX_AGE_DEFAULT=3600, MAX_CONTENT_LENGTH=MAX_BODY,
    )
    app.extensions["plexfm"] = deps
    app.extensions["plexfm.actions"] = Actions(deps.engine, trigger=deps.trigger,
                                               changed=deps.stats_changed, window=deps.window)
    registry = CollectorRegistry()
    registry.register(StoreCollector(deps.engine, deps.health))
    auth.install(app, deps.protection, deps.clock)
    unavailable.install(app, deps.engine)
    csrf.install(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(analytics.bp)
    leaks = [s.encode() for s in deps.secrets if len(s) >= 4]

    @app.after_request
    def secure(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if leaks and not response.direct_passthrough:
            body = response.get_data()
            if any(secret in body for secret in leaks):
                for secret in leaks:
                    body = body.replace(secret, b"********")
                response.set_data(body)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        from flask import render_template, request

        code = exc.code or 500
        if request.path.startswith("/api/") or request.is_json or \
                request.accept_mimetypes.best == "application/json":
            return jsonify(error=exc.description), code
        return Response(render_template("error.html", code=code, message=exc.description),
                        mimetype="text/html"), code

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        health = deps.health()
        return jsonify(health.as_dict()), 200 if health.ok else 503

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return app
