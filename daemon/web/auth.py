"""Who may use the status page: localhost only, a password, or a trusted proxy header.

- Bound to a loopback address with nothing configured, the page is open to this machine, and
  requests must name a loopback Host (a DNS-rebinding page in a browser cannot reach it).
- `web.password` holds a salted scrypt hash (`plexfm web-password` makes one); a login form
  starts a server-side session (web/sessions.py) named by a signed cookie that ends with the
  browser; logout ends the session itself. Failed logins are throttled (web/throttle.py).
- `web.trusted_header` names a header a reverse proxy sets after its own authentication
  (e.g. X-Forwarded-User); a request without it is refused.
/healthz and /metrics stay open (no user data, and monitors must reach them).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from daemon.web.passwords import verify_password
from daemon.web.redirects import safe_next
from daemon.web.sessions import Sessions
from daemon.web.throttle import LoginThrottle

log = logging.getLogger(__name__)

OPEN_PATHS = ("/healthz", "/metrics", "/static/", "/login")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Protection:
    """How the page is protected: a password hash, a proxy header, or neither (localhost)."""

    password_hash: str = ""
    trusted_header: str = ""

    @property
    def active(self) -> bool:
        return bool(self.password_hash or self.trusted_header)

    def describe(self) -> str:
        """One line for the start-up log."""
        if self.trusted_header:
            return f"authentication by the reverse proxy header {self.trusted_header}"
        if self.password_hash:
            return "password login (web.password)"
        return "open to this machine only (loopback, no login)"


def user() -> str | None:
    """Who this request is authenticated as (None: nobody, or no protection configured)."""
    protection: Protection = current_app.config["PLEXFM_PROTECTION"]
    if protection.trusted_header:
        return request.headers.get(protection.trusted_header, "").strip() or None
    name = session.get("user")
    return str(name) if name and sessions().valid(session.get("sid")) else None


def sessions() -> Sessions:
    """This application's live sessions."""
    found: Sessions = current_app.extensions["plexfm.sessions"]
    return found


def throttle() -> LoginThrottle:
    """This application's failed-login bookkeeping."""
    found: LoginThrottle = current_app.extensions["plexfm.throttle"]
    return found


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.is_json


def guard() -> ResponseReturnValue | None:
    """before_request: refuse what this protection does not allow; None lets it through."""
    protection: Protection = current_app.config["PLEXFM_PROTECTION"]
    if request.path.startswith(("/healthz", "/metrics")):
        return None
    if not protection.active:
        host = urlsplit(f"//{request.host}").hostname or ""
        if not is_loopback(host):  # DNS rebinding: a foreign name resolving to 127.0.0.1
            abort(403, description="this page answers to localhost only")
        return None
    if request.path.startswith(OPEN_PATHS) or user() is not None:
        return None
    if "user" in session:  # logged out elsewhere, expired, or from before a restart
        session.clear()
    if protection.trusted_header:
        abort(401, description="authentication required (by the reverse proxy)")
    if _wants_json():
        response = jsonify(error="authentication required: log in at /login")
        response.status_code = 401
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form (password protection only); a good password starts a session."""
    protection: Protection = current_app.config["PLEXFM_PROTECTION"]
    if not protection.password_hash:
        return redirect("/")
    error = None
    if request.method == "POST":
        client = request.remote_addr or "unknown"
        wait = throttle().attempt(client)
        if wait:
            return _throttled(wait)
        if verify_password(request.form.get("password", ""), protection.password_hash):
            throttle().succeeded(client)
            sessions().end(session.get("sid"))
            session.clear()
            session["user"] = "owner"
            session["sid"] = sessions().start()
            session.permanent = False  # no expiry date: the cookie ends with the browser
            log.info("status page: login from %s", client)
            return redirect(safe_next(request.form.get("next")))
        log.warning("status page: failed login from %s", client)
        error = "wrong password"
    return render_template("login.html", error=error,
                           next=safe_next(request.values.get("next"))), 401 if error else 200


def _throttled(wait: int) -> Response:
    """429 with Retry-After: too many failed logins (the password was not checked)."""
    message = f"too many failed logins: try again in {wait} s"
    if request.accept_mimetypes.best == "application/json":
        response = jsonify(error=message)
    else:
        response = Response(render_template("login.html", error=message,
                                            next=safe_next(request.form.get("next"))),
                            mimetype="text/html")
    response.status_code = 429
    response.headers["Retry-After"] = str(wait)
    return response


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session (on the server: a copy of the cookie stops working too); back to the
    login form."""
    sessions().end(session.get("sid"))
    session.clear()
    return redirect(url_for("auth.login"))


def install(app: Flask, protection: Protection,
            clock: Callable[[], float] = time.monotonic) -> None:
    """Register the guard and the login routes on `app` (`clock`: for sessions' lifetime
    and the login throttle)."""
    app.config["PLEXFM_PROTECTION"] = protection
    app.extensions["plexfm.sessions"] = Sessions(clock)
    app.extensions["plexfm.throttle"] = LoginThrottle(clock)
    app.before_request(guard)
    app.register_blueprint(bp)
