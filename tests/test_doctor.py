"""`plexfm doctor` on every known shape of Plex's database, on a server, and on what is not Plex."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main
from daemon.plex import doctor, hostchecks
from tests.environment import plexfm_only
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import Library, generate_library
from tests.fakes.plex_server import FakePlexServer
from tests.fakes.plex_shapes import SHAPES

UNEXPECTED = pytest.mark.reliability("input", "unexpected Plex databases")
KEY = "doctorsecret0123456789abc"
TOKEN = "doctor-plex-token-5e1d"
WRONG = "doctor-wrong-token-77aa"
VERSIONS = {"2020": 20200224131300, "2021": 20211208163900, "2023": 20240226080300,
            "current": 20250731120000}


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(120, seed=5, trash_fraction=0.05)


@pytest.fixture(scope="module")
def shapes(library: Library, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("doctor")
    return {name: build_plex_db(root / name / "com.plexapp.plugins.library.db", library,
                                shape=name).path for name in SHAPES}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plexfm_only(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", KEY)
    monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
    monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def copy(path: Path, tmp_path: Path) -> Path:
    target = tmp_path / "plex" / path.name
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(path, target)
    return target


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    status = main(["doctor", "--json", *args])
    out, err = capsys.readouterr()
    return status, json.loads(out), out + err


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["check"] == name]
    assert len(found) == 1, (name, report["checks"])
    return found[0]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_known_shape_is_reported_and_safe(shapes: dict[str, Path], library: Library,
                                               env: Path, shape: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = shapes[shape]
    before = hashlib.sha256(db.read_bytes()).hexdigest(), sorted(os.listdir(db.parent))
    status, report, _ = run(capsys, "--database", str(db))
    assert (status, report["safe"], report["reasons"]) == (0, True, [])
    assert report["verdict"] == "safe to apply"
    assert check(report, "schema_version")["details"]["version"] == VERSIONS[shape]
    assert check(report, "timestamps")["details"]["mode"] == (
        "integer" if SHAPES[shape].integer_timestamps else "legacy-string")
    search = check(report, "search_triggers")["details"]
    assert search["kind"] == ("icu" if SHAPES[shape].icu else "non-icu (naturalsort)")
    assert len(search["triggers"]) == 8
    assert check(report, "columns")["details"] == {
        "view_type": SHAPES[shape].view_type, "hashed_password": SHAPES[shape].hashed_password}
    live = [t for t in library.tracks if t.deleted_at is None]
    assert check(report, "sections")["details"]["sections"] == [
        {"id": 1, "name": "Music", "tracks": len(live)}]
    forms: dict[str, int] = {}
    for t in live:
        form = next((f for f in ("plex://", "local://") if t.guid.startswith(f)), "other")
        forms[form] = forms.get(form, 0) + 1
    assert check(report, "guids")["details"]["forms"] == forms
    assert check(report, "wal")["details"]["wal_mode"] is True
    assert check(report, "disk")["status"] == "ok"
    # strictly read-only: same bytes, no -wal/-shm left behind
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), sorted(os.listdir(db.parent))) == before


def test_plain_words_end_with_the_verdict(shapes: dict[str, Path], env: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--database", str(shapes["2021"])]) == 0
    out = capsys.readouterr().out
    assert "PMS schema version 20211208163900" in out
    assert "timestamps stored as local-time text (PMS before 2022)" in out
    assert out.rstrip().splitlines()[-1].startswith("Verdict: safe to apply")


@UNEXPECTED
def test_a_database_that_is_not_plex(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = env / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE scrobbles (id INTEGER)").connection.close()
    status, report, _ = run(capsys, "--database", str(other))
    assert status == 1
    assert report["reasons"] == ["not a Plex library database (no table schema_migrations)"]
    assert main(["doctor", "--database", str(other)]) == 1
    assert "Verdict: NOT safe to apply" in capsys.readouterr().out


@UNEXPECTED
def test_a_file_that_is_not_sqlite(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = env / "notes.db"
    notes.write_text("hello\n" * 40)
    status, report, _ = run(capsys, "--database", str(notes))
    assert status == 1
    assert report["reasons"] == [f"{notes} is not a Plex database (not an SQLite file)"]
    status, report, _ = run(capsys, "--database", str(env / "missing.db"))
    assert (status, report["reasons"]) == (1, [f"no database file at {env / 'missing.db'}"])


@pytest.mark.reliability("input", "bad configuration")
def test_no_database_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 2
    assert "plex.database" in capsys.readouterr().err


@UNEXPECTED
def test_an_unknown_schema_is_not_safe_unless_allowed(
        shapes: dict[str, Path], env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = copy(shapes["current"], tmp_path)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations(version) VALUES ('203001010000')")
    conn.commit()
    conn.close()
    status, report, _ = run(capsys, "--database", str(db))
    assert status == 1
    assert report["reasons"] == ["PMS schema version 20300101000000 (445 migrations), outside "
                                 "the known-good range 20200224131300-20250731120000"]
    monkeypatch.setenv("PLEXFM_APPLY_ALLOW_UNKNOWN_SCHEMA", "true")
    status, report, _ = run(capsys, "--database", str(db))
    assert (status, check(report, "schema_version")["status"]) == (0, "warn")


@pytest.mark.reliability("input", "bad configuration")
def test_the_server_and_its_token(shapes: dict[str, Path], env: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = copy(shapes["current"], tmp_path)
    monkeypatch.setenv("PLEXFM_PLEX_DATABASE", str(db))
    with FakePlexServer(db, token=TOKEN) as fake:
        monkeypatch.setenv("PLEXFM_PLEX_URL", fake.url)
        monkeypatch.setenv("PLEXFM_PLEX_TOKEN", TOKEN)
        status, report, text = run(capsys)
        assert status == 0
        assert check(report, "token")["summary"] == "the token works (PMS 1.43.4.10903-fake)"
        assert check(report, "plex_running")["details"] == {"running": True}
        assert check(report, "plex_running")["status"] == "warn"  # offline, no stop_command
        assert TOKEN not in text
        monkeypatch.setenv("PLEXFM_PLEX_TOKEN", WRONG)
        status, report, text = run(capsys)
        assert status == 1
        assert report["reasons"] == [f"Plex at {fake.url} rejected the token (HTTP 401)"]
        assert WRONG not in text
        assert main(["doctor"]) == 1
        assert WRONG not in "".join(capsys.readouterr())
        url = fake.url
    status, report, _ = run(capsys)  # the server is gone: Plex is not running
    assert status == 0
    assert check(report, "token")["summary"] == (f"Plex at {url} does not answer: the token "
                                                 "cannot be checked now")
    assert check(report, "plex_running")["details"] == {"running": False}


def test_a_database_someone_has_open(shapes: dict[str, Path], env: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = copy(shapes["current"], tmp_path)
    holder = sqlite3.connect(db)  # like Plex: a WAL reader keeps -wal and -shm
    try:
        holder.execute("SELECT count(*) FROM metadata_items").fetchone()
        status, report, _ = run(capsys, "--database", str(db))
        wal = check(report, "wal")
        assert (status, wal["status"], wal["details"]["side_files"]) == (0, "info",
                                                                         ["-wal", "-shm"])
    finally:
        holder.close()


@UNEXPECTED
def test_a_database_plexfm_cannot_write_or_back_up(shapes: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = doctor.DoctorInputs(database=shapes["2023"], backup_dir=tmp_path / "backups")
    monkeypatch.setattr(hostchecks.os, "access", lambda path, mode: Path(path).is_dir())
    monkeypatch.setattr(hostchecks.shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(10, 10, 1024))  # type: ignore[attr-defined]
    diagnosis = doctor.diagnose(inputs)
    assert not diagnosis.safe
    user = hostchecks.ownership(shapes["2023"]).user
    assert diagnosis.reasons[0].startswith(f"{user} cannot write the database")
    assert diagnosis.reasons[1].endswith(": not enough")
