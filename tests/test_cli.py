"""The command line: exit codes, one-line errors, redaction, status output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main
from tests.environment import plexfm_only

KEY = "clisecret0123456789abcdef"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plexfm_only(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", KEY)
    monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
    monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_check_config_prints_redacted_config(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "valid, 2 warning(s)" in out  # no Plex settings in this environment
    assert KEY not in out
    assert "********" in out
    assert str(env / "data") in out


@pytest.mark.reliability("input", "bad configuration")
def test_bad_config_exits_2_with_one_line_naming_the_key(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "bad.yaml").write_text("lastfm:\n  requests_per_second: lots\n")
    assert main(["--config", str(env / "bad.yaml"), "status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "lastfm.requests_per_second" in err


@pytest.mark.reliability("input", "bad command line")
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


@pytest.mark.reliability("fault", "last.fm errors and outages")
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


# ---- library and matching (issue 3) -------------------------------------------------------

def _library_env(env: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path]:
    from tests.fakes.plex_db import build_plex_db
    from tests.fakes.plex_library_gen import generate_library

    library = generate_library(200, seed=7)
    db = env / "plex.db"
    build_plex_db(db, library)
    monkeypatch.setenv("PLEXFM_PLEX_DATABASE", str(db))
    return library, db


def _scrobble_library_tracks(library: Any, count: int) -> list[tuple[str, str, str]]:
    from daemon.scrobble import Scrobble, with_ordinals
    from daemon.store import scrobbles as scrobble_queries
    from daemon.store.engine import open_store

    engine = open_store(f"sqlite:///{Path('data') / 'plexfm.db'}")
    identities = []
    items = []
    for i, track in enumerate(t for t in library.tracks if t.deleted_at is None):
        if i == count:
            break
        artist = library.track_artist(track) or library.artist_of(track).title
        album = library.album_of(track).title
        identities.append((artist, track.title, album))
        items.append(Scrobble(1_600_000_000 + i, artist, track.title, album))
    items.append(Scrobble(1_600_000_999, "Unknown Band", "Lost Song", "Demo Tape"))
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(items), "test")
    engine.dispose()
    return identities


def test_library_match_and_matches_json(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    library, _db = _library_env(env, monkeypatch)
    _scrobble_library_tracks(library, 30)
    assert main(["library"]) == 0
    assert "library:" in capsys.readouterr().out
    assert main(["matches", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 31
    names = {t.id: t.title for t in library.tracks}
    for row in rows:
        assert set(row) == {"artist", "title", "album", "plays", "status", "rating_key",
                            "reason", "suggestions", "library_track"}
        assert row["status"] in {"auto", "manual", "not_in_library", "queued"}
        assert (row["rating_key"] is None) == (row["status"] in {"queued", "not_in_library"})
        assert (row["library_track"] is None) == (row["rating_key"] is None)
        if row["library_track"] is not None:  # the library track by name, not only its key
            track = row["library_track"]
            assert set(track) == {"rating_key", "artist", "title", "album", "year"}
            assert track["rating_key"] == row["rating_key"]
            assert track["title"] == names[row["rating_key"]]
        for suggestion in row["suggestions"]:
            assert set(suggestion) == {"rating_key", "score", "library_track"}
            assert suggestion["library_track"]["title"] == names[suggestion["rating_key"]]
    unknown = next(r for r in rows if r["artist"] == "Unknown Band")
    assert unknown["status"] == "queued"
    assert unknown["reason"] == "no artist in library"
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["library_tracks"] == len([t for t in library.tracks if t.deleted_at is None])
    assert status["matched"] + status["queued"] + status["not_in_library"] == 31


def test_manual_decisions_from_the_shell(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    library, _db = _library_env(env, monkeypatch)
    _scrobble_library_tracks(library, 3)
    assert main(["library"]) == 0
    some_key = str(library.tracks[0].id)
    assert main(["match", "--accept", "Unknown Band", "Lost Song", "Demo Tape", some_key]) == 0
    assert main(["matches", "--jsonl", "--status", "manual"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1])["rating_key"] == int(some_key)
    assert main(["match", "--not-in-library", "Unknown Band", "Lost Song", "Demo Tape"]) == 0
    assert main(["match", "--full"]) == 0
    capsys.readouterr()
    assert main(["matches", "--json", "--status", "not_in_library"]) == 0
    assert [r["title"] for r in json.loads(capsys.readouterr().out)] == ["Lost Song"]
    assert main(["match", "--undo", "Unknown Band", "Lost Song", "Demo Tape"]) == 0
    assert "was not_in_library" in capsys.readouterr().out
    assert main(["match", "--accept", "No", "Such", "Track", "1"]) == 1
    assert main(["match", "--accept", "Unknown Band", "Lost Song", "Demo Tape", "999999"]) == 1
    assert "no library track with rating key 999999" in capsys.readouterr().err


def test_library_over_http_gives_the_same_mirror(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.plex_server import FakePlexServer

    library, db = _library_env(env, monkeypatch)
    _scrobble_library_tracks(library, 10)
    assert main(["library"]) == 0
    capsys.readouterr()
    assert main(["matches", "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    (env / "data" / "plexfm.db").unlink()
    _scrobble_library_tracks(library, 10)
    monkeypatch.setenv("PLEXFM_PLEX_DATABASE", "")
    monkeypatch.setenv("PLEXFM_PLEX_TOKEN", "plex-secret-token")
    with FakePlexServer(db, token="plex-secret-token") as plex:
        monkeypatch.setenv("PLEXFM_PLEX_URL", plex.url)
        assert main(["library"]) == 0
        capsys.readouterr()
        assert main(["matches", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == from_file


def test_library_without_any_plex_setting_exits_2(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["library"]) == 2
    assert "plex.database" in capsys.readouterr().err


def test_wrong_plex_token_never_shows_the_token(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.plex_server import FakePlexServer

    _library, db = _library_env(env, monkeypatch)
    monkeypatch.setenv("PLEXFM_PLEX_DATABASE", "")
    monkeypatch.setenv("PLEXFM_PLEX_TOKEN", "wrong-token-123456")
    with FakePlexServer(db, token="right") as plex:
        monkeypatch.setenv("PLEXFM_PLEX_URL", plex.url)
        assert main(["library"]) == 1
    captured = capsys.readouterr()
    assert "wrong-token-123456" not in captured.err + captured.out
