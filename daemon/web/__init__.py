"""The embedded web application: health, metrics and (later) the status page.

`create_app` is the app factory (no module-level app): everything it serves comes from the
store through the dependencies it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine

from daemon.health import Health
from daemon.web.metrics import StoreCollector

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
}


@dataclass(frozen=True)
class WebDeps:
    """What the web application reads from."""

    engine: Engine
    health: Callable[[], Health]


def create_app(deps: WebDeps) -> Flask:
    """The Flask application serving /healthz and /metrics."""
    app = Flask(__name__)
    registry = CollectorRegistry()
    registry.register(StoreCollector(deps.engine, deps.health))

    @app.after_request
    def secure(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        health = deps.health()
        return jsonify(health.as_dict()), 200 if health.ok else 503

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return app
