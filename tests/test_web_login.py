"""Password login: failed attempts are throttled (per client address and overall, 429 with
Retry-After), and a session lives on the server: logout ends it for every copy of the cookie,
and a restart ends them all. The clock is injected (no sleeps)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from daemon.service.health import Health
from daemon.web import WebDeps, create_app
from daemon.web.auth import Protection
from daemon.web.sessions import LIFETIME
from daemon.web.throttle import FREE_FAILURES, GLOBAL_LIMIT, GLOBAL_WINDOW, MAX_DELAY
from tests.test_web import build_store, token
from tests.test_web_redirects import cheap_hash, login_page_token

pytestmark = pytest.mark.reliability("input", "login attacks")
PASSWORD = "correct horse"
KEY = b"k" * 32


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def password_app(engine: Engine, clock: Clock) -> Flask:
    return create_app(WebDeps(engine=engine, health=lambda: Health(True), clock=clock,
                              protection=Protection(password_hash=cheap_hash(PASSWORD)),
                              session_key=KEY))


@pytest.fixture
def app(engine: Engine, clock: Clock) -> Flask:
    build_store(engine)
    return password_app(engine, clock)


def attempt(client: FlaskClient, password: str, address: str = "10.0.0.1") -> int:
    csrf = login_page_token(client)
    return client.post("/login", data={"password": password, "csrf_token": csrf},
                       environ_base={"REMOTE_ADDR": address}).status_code


def test_failed_logins_from_one_address_wait_longer_and_longer(app: Flask,
                                                               clock: Clock) -> None:
    client = app.test_client()
    for _ in range(FREE_FAILURES):
        assert attempt(client, "guess") == 401
    locked = client.post("/login", data={"password": PASSWORD,
                                         "csrf_token": login_page_token(client)},
                         environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert locked.status_code == 429  # even the right password: no oracle while locked
    assert locked.headers["Retry-After"] == "1"
    assert "try again in" in locked.get_data(as_text=True)
    delays = []
    for _ in range(6):
        clock.now += 0.5
        assert attempt(client, "guess") == 429
        wait = float(client.post("/login", data={"password": "x",
                                                 "csrf_token": login_page_token(client)},
                                 environ_base={"REMOTE_ADDR": "10.0.0.1"}
                                 ).headers["Retry-After"])
        clock.now += wait
        assert attempt(client, "guess") == 401
        delays.append(int(client.post("/login", data={
            "password": "x", "csrf_token": login_page_token(client)},
            environ_base={"REMOTE_ADDR": "10.0.0.1"}).headers["Retry-After"]))
    assert delays == [2, 4, 8, 16, 32, 64]
    other = app.test_client()
    assert attempt(other, PASSWORD, "10.0.0.2") == 302  # another address is not locked
    clock.now += 64
    assert attempt(client, PASSWORD) == 302  # the owner, after the wait
    client.post("/logout", data={"csrf_token": token(client)},
                environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert attempt(client, "typo") == 401  # a success forgave the earlier failures


def test_the_delay_is_capped(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    for _ in range(40):
        clock.now += MAX_DELAY
        assert attempt(client, "guess") == 401
    answer = client.post("/login", data={"password": "x", "csrf_token": login_page_token(client)},
                         environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) == MAX_DELAY


def test_failures_from_many_addresses_hit_the_overall_cap(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    for n in range(GLOBAL_LIMIT):
        clock.now += 1
        assert attempt(client, "guess", f"10.1.{n // 250}.{n % 250}") == 401
    answer = client.post("/login", data={"password": PASSWORD,
                                         "csrf_token": login_page_token(client)},
                         environ_base={"REMOTE_ADDR": "192.168.7.7"})
    assert answer.status_code == 429
    retry = int(answer.headers["Retry-After"])
    assert 0 < retry <= GLOBAL_WINDOW
    clock.now += retry
    assert attempt(client, PASSWORD, "192.168.7.7") == 302


def test_a_json_client_gets_a_json_429(app: Flask) -> None:
    client = app.test_client()
    for _ in range(FREE_FAILURES):
        attempt(client, "guess")
    answer = client.post("/login", data={"password": "x", "csrf_token": login_page_token(client)},
                         headers={"Accept": "application/json"},
                         environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert answer.status_code == 429
    assert "try again in" in answer.get_json()["error"]
    assert answer.headers["Retry-After"] == "1"


def login(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert attempt(client, PASSWORD) == 302
    return client


def test_logout_ends_the_session_for_a_copied_cookie_too(app: Flask) -> None:
    owner = login(app)
    cookie = owner.get_cookie("plexfm_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("plexfm_session", cookie.value)
    assert thief.get("/api/queue").status_code == 200
    assert owner.post("/logout", data={"csrf_token": token(owner)}).status_code == 302
    assert owner.get("/api/queue").status_code == 401
    assert thief.get("/api/queue").status_code == 401
    assert thief.get("/queue").status_code == 302  # to the login form


def test_a_restart_ends_every_session(app: Flask, engine: Engine, clock: Clock) -> None:
    cookie = login(app).get_cookie("plexfm_session")
    assert cookie is not None
    restarted = password_app(engine, clock).test_client()  # even with the same signing key
    restarted.set_cookie("plexfm_session", cookie.value)
    assert restarted.get("/api/queue").status_code == 401


def test_the_cookie_ends_with_the_browser_and_the_session_after_its_lifetime(
    app: Flask, clock: Clock
) -> None:
    client = app.test_client()
    answer = client.post("/login", data={"password": PASSWORD,
                                         "csrf_token": login_page_token(client)})
    cookies = answer.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("plexfm_session="))
    assert "Expires" not in session_cookie
    assert "Max-Age" not in session_cookie
    assert "HttpOnly" in session_cookie
    assert "SameSite=Strict" in session_cookie

    clock.now += LIFETIME - 1
    assert client.get("/api/queue").status_code == 200
    clock.now += 2
    assert client.get("/api/queue").status_code == 401
