"""Who may use the status page: localhost by default; a password or a proxy header otherwise."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon import cli
from daemon.config import load_config
from daemon.config.sections import WebConfig
from daemon.errors import ConfigError
from daemon.service import process as service
from daemon.service.health import Health
from daemon.web import WebDeps, create_app
from daemon.web.auth import Protection
from daemon.web.passwords import hash_password, is_password_hash, verify_password
from tests.test_web import build_store

PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)
BASE_ENV = {"PLEXFM_LASTFM_API_KEY": "k" * 32, "PLEXFM_LASTFM_USER": "alice"}


def test_password_hash_round_trip_and_format() -> None:
    assert is_password_hash(HASH)
    assert HASH.startswith("scrypt$")
    assert verify_password(PASSWORD, HASH)
    assert not verify_password("wrong", HASH)
    assert hash_password(PASSWORD) != HASH  # salted
    for plain in ["hunter2", "scrypt$1$2$3$x$y", "", PASSWORD]:
        assert not is_password_hash(plain)
        assert not verify_password(plain, plain)


@pytest.mark.reliability("input", "bad configuration")
def test_a_plaintext_password_in_config_is_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ={**BASE_ENV, "PLEXFM_WEB_PASSWORD": "hunter22"})
    assert caught.value.key in ("PLEXFM_WEB_PASSWORD", "web.password")
    assert load_config(None, environ={**BASE_ENV, "PLEXFM_WEB_PASSWORD": HASH}).web.password
    for name, value in {**BASE_ENV, "PLEXFM_WEB_PASSWORD": "hunter22"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(Path(__file__).parent)
    assert cli.main(["check-config"]) == 2
    assert "web.password" in capsys.readouterr().err


def test_web_password_command_prints_a_hash(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["web-password"]) == 0
    printed = capsys.readouterr().out.strip()
    assert is_password_hash(printed)
    assert verify_password(PASSWORD, printed)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["web-password"]) == 2


@pytest.mark.parametrize(("host", "password", "header", "refused"), [
    ("127.0.0.1", "", "", False), ("localhost", "", "", False), ("::1", "", "", False),
    ("0.0.0.0", "", "", True), ("192.168.1.5", "", "", True), ("::", "", "", True),
    ("0.0.0.0", HASH, "", False), ("0.0.0.0", "", "X-Forwarded-User", False),
])
@pytest.mark.reliability("input", "bad configuration")
def test_listening_beyond_localhost_requires_authentication(
    host: str, password: str, header: str, refused: bool
) -> None:
    config = WebConfig(host=host, password=password, trusted_header=header)
    if refused:
        with pytest.raises(ConfigError) as caught:
            service.protection(config)
        assert caught.value.key == "web.host"
    else:
        assert service.protection(config).active == bool(password or header)


def test_plexfm_run_on_all_interfaces_without_auth_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**BASE_ENV, "PLEXFM_STORE_DATA_DIR": str(tmp_path), "PLEXFM_WEB_HOST": "0.0.0.0",
           "PLEXFM_WEB_PORT": "1", "PLEXFM_SCHEDULE_PULL_MINUTES": "0"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "web.host" in err
    assert "web.password" in err


def test_protection_is_described_for_the_start_log() -> None:
    assert "loopback" in Protection().describe()
    assert "password" in Protection(password_hash=HASH).describe()
    assert "X-Auth" in Protection(trusted_header="X-Auth").describe()


def test_password_login_flow(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    build_store(engine)
    app = create_app(WebDeps(engine=engine, health=lambda: Health(True),
                             protection=Protection(password_hash=HASH)))
    client = app.test_client()
    home = client.get("/", headers={"Host": "plexfm.lan"})
    assert home.status_code == 302
    assert home.headers["Location"].startswith("/login")
    assert client.get("/api/queue").status_code == 401
    assert client.post("/api/jobs/pull/run").status_code == 401  # before CSRF: no session
    assert client.get("/healthz").status_code == 200  # monitors stay open
    assert client.get("/static/plexfm.css").status_code == 200
    page = client.get("/login").get_data(as_text=True)
    assert 'type="password"' in page
    from tests.test_web import token

    csrf = client.get("/login").get_data(as_text=True).split('name="csrf-token" content="')[1]
    csrf = csrf.split('"')[0]
    assert client.post("/login", data={"password": PASSWORD}).status_code == 400  # no token
    with caplog.at_level(logging.INFO):
        wrong = client.post("/login", data={"password": "nope", "csrf_token": csrf})
        assert wrong.status_code == 401
        good = client.post("/login", data={"password": PASSWORD, "csrf_token": csrf,
                                           "next": "/queue"})
    assert good.status_code == 302
    assert good.headers["Location"] == "/queue"
    assert "failed login" in caplog.text
    assert client.get("/queue").status_code == 200
    assert client.get("/api/queue").status_code == 200
    assert client.post("/logout", data={"csrf_token": token(client)}).status_code == 302
    assert client.get("/api/queue").status_code == 401
    other = app.test_client()  # a forged cookie is not a session
    other.set_cookie("plexfm_session", "user=owner", domain="localhost")
    assert other.get("/api/queue").status_code == 401


def test_trusted_proxy_header(engine: Engine) -> None:
    build_store(engine)
    app = create_app(WebDeps(engine=engine, health=lambda: Health(True),
                             protection=Protection(trusted_header="X-Forwarded-User")))
    client = app.test_client()
    assert client.get("/", headers={"Host": "music.example"}).status_code == 401
    assert client.get("/api/queue").status_code == 401
    response = client.get("/", headers={"Host": "music.example", "X-Forwarded-User": "ana"})
    assert response.status_code == 200
    assert client.get("/login").status_code == 302  # no password login in this mode
