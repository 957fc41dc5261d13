"""The command line: exit codes, one-line errors, redaction, status output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli import main

KEY = "clisecret0123456789abcdef"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PLEXFM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", KEY)
    monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
    monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_check_config_prints_redacted_config(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out
    assert KEY not in out
    assert "********" in out
    assert str(env / "data") in out


def test_bad_config_exits_2_with_one_line_naming_the_key(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "bad.yaml").write_text("lastfm:\n  requests_per_second: lots\n")
    assert main(["--config", str(env / "bad.yaml"), "status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "lastfm.requests_per_second" in err


def test_usage_error_exits_2(env: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["pull", "--sideways"])
    assert caught.value.code == 2


def test_status_json_on_an_empty_store(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["scrobbles"] == 0
    assert status["first_scrobble"] is None
    assert status["last_scrobble"] is None
    assert status["backfill_complete"] is False


def test_pull_against_an_unreachable_server_fails_with_exit_1(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLEXFM_LASTFM_API_URL", "http://127.0.0.1:9/2.0/")
    monkeypatch.setenv("PLEXFM_LASTFM_MAX_RETRIES", "0")
    assert main(["pull"]) == 1
    captured = capsys.readouterr()
    assert "cannot reach last.fm" in captured.err
    assert KEY not in captured.err + captured.out
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["jobs"]["pull"]["outcome"] == "error"
    assert KEY not in json.dumps(status)


def test_python_dash_m_daemon_works(env: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "daemon", "--version"], capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("plexfm ")
