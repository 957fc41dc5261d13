"""CSRF protection: every state change is a POST carrying the session's token.

The token is random per session (kept in the signed session cookie, SameSite=Strict) and
travels in the form field `csrf_token` or the header `X-CSRF-Token`; it is compared in
constant time. Missing: 400. Wrong: 403. Nothing runs before the check passes.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token() -> str:
    """This session's CSRF token (created on first use)."""
    value = session.get(FIELD)
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(32)
        session[FIELD] = value
    return value


def check() -> None:
    """before_request: abort unsafe requests without this session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(HEADER) or request.form.get(FIELD)
    if not sent and request.is_json:
        body = request.get_json(silent=True)
        sent = body.get(FIELD) if isinstance(body, dict) else None
    if not sent:
        abort(400, description="missing CSRF token")
    expected = session.get(FIELD)
    if not isinstance(expected, str) or not hmac.compare_digest(str(sent).encode(),
                                                                 expected.encode()):
        abort(403, description="bad CSRF token (reload the page)")


def install(app: Flask) -> None:
    """Check every unsafe request and give templates `csrf_token()`."""
    app.before_request(check)
    app.jinja_env.globals["csrf_token"] = token
