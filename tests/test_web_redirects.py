"""`next` (where a form or the login sends the browser back to): a path on this site only,
checked before the action runs, so a hostile `next` can neither leave the site nor turn a
committed action into an error."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from daemon.service.health import Health
from daemon.web import WebDeps, create_app
from daemon.web.auth import Protection
from tests.test_web import Calls, build_store, make_app, status_of, token

HOSTILE = pytest.mark.reliability("input", "hostile web requests")
REFUSED = [
    "//evil.com", "/\t/evil.com", "/%09/evil.com", "/\n/evil.com", "/%0a/evil.com",
    "/%0d%0a/evil.com", "/\\evil.com", "/%5Cevil.com", "\\\\evil.com", "/%2F/evil.com",
    "/%252F%252Fevil.com", "https://evil.com", "evil.com", "/ /evil.com", "/%20/evil.com",
    "/x\nSet-Cookie: a=b", "/x\r\nLocation: //evil.com", "/\u2028/evil.com", "/\x00/evil.com",
    "/%00", "/\u00a0/evil.com", "/\u200b/evil.com", "/é", "javascript:alert(1)", "", "/" * 3,
    "/" + "a" * 3000,
]
GOOD = ["/", "/queue", "/queue?artist=The+Beatles&page=2", "/matches?q=bj%C3%B6rk",
        "/queue?after=6.3&page=2"]


def cheap_hash(password: str) -> str:
    """A valid web.password hash with tiny scrypt costs (the real ones take ~0.1 s each)."""
    import base64

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=16, r=8, p=1, dklen=32)
    b64 = base64.urlsafe_b64encode
    return f"scrypt$16$8$1${b64(salt).decode()}${b64(digest).decode()}"


def login_page_token(client: FlaskClient, query: str = "") -> str:
    page = client.get(f"/login{query}").get_data(as_text=True)
    return page.split('name="csrf-token" content="')[1].split('"')[0]


@HOSTILE
@pytest.mark.parametrize("target", REFUSED)
def test_a_hostile_next_after_login_goes_to_the_dashboard(engine: Engine, target: str) -> None:
    build_store(engine)
    app = create_app(WebDeps(engine=engine, health=lambda: Health(True),
                             protection=Protection(password_hash=cheap_hash("pw"))))
    client = app.test_client()
    csrf = login_page_token(client)
    shown = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert 'name="next" value="/"' in shown
    good = client.post("/login", data={"password": "pw", "csrf_token": csrf, "next": target})
    assert good.status_code == 302
    assert good.headers["Location"] == "/"


@HOSTILE
def test_the_attackers_login_link_is_refused(engine: Engine) -> None:
    build_store(engine)
    app = create_app(WebDeps(engine=engine, health=lambda: Health(True),
                             protection=Protection(password_hash=cheap_hash("pw"))))
    client = app.test_client()
    csrf = login_page_token(client)
    page = client.get("/login?next=/%09/evil.com").get_data(as_text=True)
    sent = page.split('name="next" value="')[1].split('"')[0]
    answer = client.post("/login", data={"password": "pw", "csrf_token": csrf, "next": sent})
    assert answer.headers["Location"] == "/"


@pytest.mark.parametrize("target", GOOD)
def test_a_path_on_this_site_is_kept(engine: Engine, target: str) -> None:
    build_store(engine)
    app = create_app(WebDeps(engine=engine, health=lambda: Health(True),
                             protection=Protection(password_hash=cheap_hash("pw"))))
    client = app.test_client()
    csrf = login_page_token(client)
    good = client.post("/login", data={"password": "pw", "csrf_token": csrf, "next": target})
    assert good.headers["Location"] == target


@pytest.fixture
def client(engine: Engine) -> tuple[FlaskClient, dict[str, int]]:
    ids = build_store(engine)
    return make_app(engine, Calls()).test_client(), ids


@HOSTILE
@pytest.mark.parametrize("target", REFUSED)
def test_a_form_post_with_a_hostile_next_redirects_home(
    client: tuple[FlaskClient, dict[str, int]], engine: Engine, target: str
) -> None:
    browser, ids = client
    form: dict[str, Any] = {"csrf_token": token(browser), "next": target}
    answer = browser.post(f"/api/tracks/{ids['Song A']}/not-in-library", data=form)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"
    assert status_of(engine, ids["Song A"]) == ("not_in_library", None)
    refused = browser.post(f"/api/tracks/{ids['Song B']}/skip?next={target}",
                           data={"csrf_token": form["csrf_token"], "days": "x"})
    assert refused.status_code == 303
    assert refused.headers["Location"] == "/"


@pytest.mark.parametrize("target", GOOD)
def test_a_form_post_goes_back_to_its_page(client: tuple[FlaskClient, dict[str, int]],
                                           target: str) -> None:
    browser, ids = client
    answer = browser.post(f"/api/tracks/{ids['Song A']}/unskip",
                          data={"csrf_token": token(browser), "next": target})
    assert answer.headers["Location"] == target
