"""503 while the store must not be used: its file was deleted or replaced while plexfm runs.

Every request but /healthz (which says the same among its reasons) and the static files is
answered 503 with the one line /healthz gives, before any view touches the store, so no request
fails with a traceback: the store logged the problem once when it found it
(`daemon.store.storefile`). A request already inside a view when the file goes gets the same
answer from the StoreError handler.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from sqlalchemy import Engine
from werkzeug.exceptions import ServiceUnavailable

from daemon.errors import StoreError
from daemon.service.health import store_reason

log = logging.getLogger(__name__)

EXEMPT = ("healthz", "static")


def install(app: Flask, engine: Engine) -> None:
    """Register the check (after the login guard: who may not see the pages gets no more)
    and the StoreError handler."""

    def refuse(reason: str) -> Response:
        if request.endpoint == "metrics":  # Prometheus: a failed scrape, one plain line
            return Response(reason + "\n", status=503, mimetype="text/plain")
        # JSON or the error page, as the app answers every HTTP error
        return app.make_response(app.handle_http_exception(ServiceUnavailable(reason)))

    @app.before_request
    def store_usable() -> Response | None:
        if request.endpoint in EXEMPT:
            return None
        reason = store_reason(engine)
        return None if reason is None else refuse(reason)

    @app.errorhandler(StoreError)
    def store_error(exc: StoreError) -> Response:
        reason = store_reason(engine)
        if reason is None:  # not the file: say it in one line, no traceback either
            reason = f"store: {exc}"
            log.warning("%s %s: %s", request.method, request.path, reason)
        return refuse(reason)
