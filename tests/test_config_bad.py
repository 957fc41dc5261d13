"""Bad configurations, as users and attackers write them: every one stops plexfm at once with
exit status 2 and ONE line under 300 characters that names the key, never echoing a secret,
never hanging, never a traceback (issue 10 item 7)."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from daemon.cli import main

pytestmark = pytest.mark.timeout(20)
BAD_CONFIG = pytest.mark.reliability("input", "bad configuration")

SECRET = "s3cr3t-0123456789abcdef0123456789"
GOOD = {"PLEXFM_LASTFM_API_KEY": "0123456789abcdef0123456789abcdef",
        "PLEXFM_LASTFM_USER": "alice", "PLEXFM_PLEX_DATABASE": "/srv/plex/library.db"}
DEEP = "lastfm:\n  user: " + "[" * 5000 + "\n"
LAUGHS = "lastfm:\n  user: [&a [x, x, x, x, x, x, x, x, x], " + ", ".join(
    f"&{c} [" + ", ".join([f"*{p}"] * 9) + "]"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)) + "]\n"

# (id, config text, extra environment, a word the one line must name)
CASES: list[tuple[str, str, dict[str, str], str]] = [
    # the window
    ("window-zone-Z", "apply:\n  window: '04:00Z-05:00'\n", {}, "apply.window"),
    ("window-offset", "apply:\n  window: '04:00+02:00-05:00'\n", {}, "apply.window"),
    ("window-seconds-frac", "apply:\n  window: '04:00:00.5-05:00'\n", {}, "apply.window"),
    ("window-empty", "apply:\n  window: '04:00-04:00'\n", {}, "apply.window"),
    ("window-one-end", "apply:\n  window: '04:00'\n", {}, "apply.window"),
    ("window-words", "apply:\n  window: 'at night'\n", {}, "apply.window"),
    ("window-25h", "apply:\n  window: '25:00-26:00'\n", {}, "apply.window"),
    ("window-list", "apply:\n  window: [4, 5]\n", {}, "apply.window"),
    ("window-unicode-digits", "apply:\n  window: '\u0660\u0664:00-05:00'\n", {}, "apply.window"),
    # the password hash
    ("password-plain", "web:\n  password: hunter2hunter2\n", {}, "web.password"),
    ("password-scrypt-n3",
     "web:\n  password: 'scrypt$3$8$1$c2FsdHNhbHRzYWx0$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='\n", {}, "web.password"),
    ("password-scrypt-huge-n",
     "web:\n  password: 'scrypt$1099511627776$8$1$c2FsdHNhbHRzYWx0$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='\n", {}, "web.password"),
    ("password-scrypt-r0",
     "web:\n  password: 'scrypt$32768$0$1$c2FsdHNhbHRzYWx0$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='\n", {}, "web.password"),
    ("password-scrypt-p-huge",
     "web:\n  password: 'scrypt$32768$8$99999$c2FsdHNhbHRzYWx0$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='\n", {}, "web.password"),
    ("password-scrypt-superscript",
     "web:\n  password: 'scrypt$32768$\u00b2$1$c2FsdHNhbHRzYWx0$"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='\n", {}, "web.password"),
    # accounts
    ("account-huge", "plex:\n  account_id: 99999999999999999999999\n", {}, "plex.account_id"),
    ("account-negative", "plex:\n  account_id: -1\n", {}, "plex.account_id"),
    ("account-zero", "plex:\n  account_id: 0\n", {}, "plex.account_id"),
    ("account-float", "plex:\n  account_id: 1.5\n", {}, "plex.account_id"),
    ("account-bool", "plex:\n  account_id: true\n", {}, "plex.account_id"),
    ("accounts-huge", "plex:\n  accounts: 'bob:99999999999999999999999'\n", {},
     "plex.accounts"),
    ("accounts-negative", "plex:\n  accounts: 'bob:-5'\n", {}, "plex.accounts"),
    ("accounts-superscript", "plex:\n  accounts: 'bob:\u00b2'\n", {}, "plex.accounts"),
    ("accounts-no-user", "plex:\n  accounts: ':5'\n", {}, "plex.accounts"),
    ("accounts-no-id", "plex:\n  accounts: 'bob'\n", {}, "plex.accounts"),
    ("accounts-twice", "plex:\n  accounts: 'bob:5, bob:6'\n", {}, "plex.accounts"),
    ("account-env-huge", "", {"PLEXFM_PLEX_ACCOUNT_ID": "1e23"}, "PLEXFM_PLEX_ACCOUNT_ID"),
    # the last.fm key, user and URL
    ("api-key-spaces", "", {"PLEXFM_LASTFM_API_KEY": "   "}, "lastfm.api_key"),
    ("api-key-inner-space", f"lastfm:\n  api_key: '{SECRET[:10]} {SECRET[10:]}'\n", {},
     "lastfm.api_key"),
    ("api-key-newline", f"lastfm:\n  api_key: \"{SECRET}\\n\"\n", {}, "lastfm.api_key"),
    ("api-key-list", f"lastfm:\n  api_key: [{SECRET}]\n", {}, "lastfm.api_key"),
    ("api-key-mapping", f"lastfm:\n  api_key: {{k: {SECRET}}}\n", {}, "lastfm.api_key"),
    ("user-blank", "", {"PLEXFM_LASTFM_USER": "  "}, "lastfm.user"),
    ("user-list", "lastfm:\n  user: [a, b]\n", {}, "lastfm.user"),
    ("api-url-no-host", "lastfm:\n  api_url: 'http://'\n", {}, "lastfm.api_url"),
    ("api-url-ftp", "lastfm:\n  api_url: 'ftp://example.org/'\n", {}, "lastfm.api_url"),
    ("api-url-space", "lastfm:\n  api_url: 'http://exa mple.org/'\n", {}, "lastfm.api_url"),
    ("api-url-bad-port", "lastfm:\n  api_url: 'http://example.org:99999/'\n", {},
     "lastfm.api_url"),
    ("plex-url-no-host", "plex:\n  url: 'https://'\n", {}, "plex.url"),
    ("plex-url-words", "plex:\n  url: 'my plex'\n", {}, "plex.url"),
    ("plex-token-list", f"plex:\n  token: [{SECRET}]\n", {}, "plex.token"),
    ("web-password-list", f"web:\n  password: [{SECRET}]\n", {}, "web.password"),
    # numbers
    ("rps-nan", "lastfm:\n  requests_per_second: .nan\n", {}, "lastfm.requests_per_second"),
    ("rps-inf", "lastfm:\n  requests_per_second: .inf\n", {}, "lastfm.requests_per_second"),
    ("rps-text", "lastfm:\n  requests_per_second: fast\n", {}, "lastfm.requests_per_second"),
    ("rps-env-1e400", "", {"PLEXFM_LASTFM_REQUESTS_PER_SECOND": "1e400"},
     "PLEXFM_LASTFM_REQUESTS_PER_SECOND"),
    ("port-huge", "web:\n  port: 99999999999999999999\n", {}, "web.port"),
    ("port-zero", "web:\n  port: 0\n", {}, "web.port"),
    ("page-size-negative", "lastfm:\n  page_size: -200\n", {}, "lastfm.page_size"),
    ("backups-keep-huge", "apply:\n  backups_keep: 10000000000000000000000\n", {},
     "apply.backups_keep"),
    ("pull-minutes-negative", "schedule:\n  pull_minutes: -5\n", {}, "schedule.pull_minutes"),
    ("enabled-text", "web:\n  enabled: maybe\n", {}, "web.enabled"),
    ("mode-unknown", "apply:\n  mode: turbo\n", {}, "apply.mode"),
    ("zone-unknown", "analytics:\n  timezone: Mars/Olympus\n", {}, "analytics.timezone"),
    ("zone-path", "analytics:\n  timezone: ../../etc/passwd\n", {}, "analytics.timezone"),
    ("hemisphere", "analytics:\n  hemisphere: east\n", {}, "analytics.hemisphere"),
    ("log-level", "log:\n  level: LOUD\n", {}, "log.level"),
    # the store
    ("store-postgres-no-driver", "store:\n  url: 'postgresql://u@h/db'\n", {}, "store.url"),
    ("store-mysql", "store:\n  url: 'mysql+pymysql://u@h/db'\n", {}, "store.url"),
    ("store-url-garbage", "store:\n  url: 'not a url'\n", {}, "store.url"),
    # unknown names
    ("unknown-section", "lastmf:\n  user: a\n", {}, "lastmf"),
    ("unknown-key", "lastfm:\n  usr: a\n", {}, "lastfm.usr"),
    ("unknown-env", "", {"PLEXFM_LASTFM_USR": "a"}, "PLEXFM_LASTFM_USR"),
    ("section-scalar", "lastfm: 5\n", {}, "lastfm"),
    ("top-level-list", "- a\n- b\n", {}, "config"),
    # hostile YAML
    ("deep-nesting", DEEP, {}, "config"),
    ("billion-laughs-in-key", LAUGHS, {}, "lastfm.user"),
    ("tab-indent", "lastfm:\n\tuser: a\n", {}, "config"),
    ("python-tag", "lastfm:\n  user: !!python/object/apply:os.system ['true']\n", {}, "config"),
]


def run(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> tuple[int, str, str]:
    for name in [n for n in os.environ if n.startswith("PLEXFM_")]:
        monkeypatch.delenv(name)
    for name, value in {**GOOD, **env}.items():
        monkeypatch.setenv(name, value)
    written = tmp_path / "config.yaml"
    if written.is_file() and b"api_key:" in written.read_bytes():
        monkeypatch.delenv("PLEXFM_LASTFM_API_KEY")
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def assert_one_clear_line(code: int, err: str, word: str) -> None:
    assert code == 2, err[:500]
    lines = err.splitlines()
    assert len(lines) == 1, lines[:3]
    assert len(lines[0]) < 300, lines[0][:400]
    assert lines[0].startswith("plexfm: config: "), lines[0]
    assert word in lines[0], lines[0]
    assert SECRET not in err
    assert SECRET[:10] not in err


@BAD_CONFIG
@pytest.mark.parametrize(("text", "env", "word"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_config_exits_2_with_one_line(text: str, env: dict[str, str], word: str,
                                          tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    code, _out, err = run(["--config", str(path), "check-config"], env, monkeypatch, tmp_path)
    assert_one_clear_line(code, err, word)


@BAD_CONFIG
def test_non_utf8_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"lastfm:\n  user: caf\xe9\n")
    code, _out, err = run(["--config", str(path), "check-config"], {}, monkeypatch, tmp_path)
    assert_one_clear_line(code, err, "UTF-8")


@BAD_CONFIG
def test_data_dir_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "config.yaml"
    path.write_text(f"store:\n  data_dir: {tmp_path / 'afile'}\n")
    code, _out, err = run(["--config", str(path), "status"], {}, monkeypatch, tmp_path)
    assert_one_clear_line(code, err, "store.data_dir")


@BAD_CONFIG
def test_default_data_dir_that_is_a_file(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "state").write_text("x")
    code, _out, err = run(["status"], {}, monkeypatch, tmp_path)
    assert_one_clear_line(code, err, "store.data_dir")


@BAD_CONFIG
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "huge"])
def test_config_that_is_not_a_small_regular_file(kind: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_text("# " + "x" * (2 << 20) + "\n")
    code, _out, err = run(["--config", str(path), "check-config"], {}, monkeypatch, tmp_path)
    assert_one_clear_line(code, err, str(path))


@BAD_CONFIG
def test_missing_default_config_says_where_it_looked(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GOOD:
        monkeypatch.delenv(name, raising=False)
    code, _out, err = run(["check-config"], {"PLEXFM_LASTFM_USER": "alice"}, monkeypatch,
                          tmp_path)
    monkeypatch.delenv("PLEXFM_LASTFM_API_KEY", raising=False)
    code, _out, err = run(["check-config"], {"PLEXFM_LASTFM_API_KEY": ""}, monkeypatch,
                          tmp_path)
    assert_one_clear_line(code, err, "lastfm.api_key")
    assert "config.yaml" in err
    assert "not found" in err


@BAD_CONFIG
@pytest.mark.parametrize(("text", "hint"), [
    ("lastfm:\n  usr: a\n", "did you mean lastfm.user?"),
    ("lastfm:\n  apikey: k\n", "did you mean lastfm.api_key?"),
    ("lastmf:\n  user: a\n", "did you mean lastfm?"),
    ("apply:\n  windw: off\n", "did you mean apply.window?"),
])
def test_typos_get_a_suggestion(text: str, hint: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    code, _out, err = run(["--config", str(path), "check-config"], {}, monkeypatch, tmp_path)
    assert code == 2
    assert hint in err


@BAD_CONFIG
def test_env_typo_gets_a_suggestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _out, err = run(["check-config"], {"PLEXFM_PLEX_DATABSE": "/x"}, monkeypatch, tmp_path)
    assert code == 2
    assert "did you mean PLEXFM_PLEX_DATABASE?" in err


def test_check_config_warns_without_plex_settings(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(["check-config"], {"PLEXFM_PLEX_DATABASE": ""}, monkeypatch, tmp_path)
    assert code == 0
    assert "OK" not in out.splitlines()[0]
    assert "plex.database" in err
    assert "plex.url" in err


def test_check_config_ok_with_plex_database(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(["check-config"], {"PLEXFM_PLEX_DATABASE": str(tmp_path / "p.db")},
                         monkeypatch, tmp_path)
    assert code == 0
    assert ": OK" in out.splitlines()[0]
    assert "plex.database" not in err
