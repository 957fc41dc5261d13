"""`plexfm init` and the example configuration shipped inside the package."""

from __future__ import annotations

import io
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.cli import init as init_command
from daemon.cli import main
from daemon.cli.init import DATABASE, PMS, Roots
from daemon.config import load_config
from daemon.scrobble import Scrobble
from tests.environment import plexfm_only
from tests.fakes.lastfm_server import DEFAULT_API_KEY, FakeLastfm

ROOT = Path(__file__).resolve().parent.parent
LINUX = ("var", "lib", "plexmediaserver", "Library", "Application Support", PMS)
SYNOLOGY = ("volume1", "PlexMediaServer", "AppData", PMS)
KEY = "5ecf" * 8  # not the example's placeholder key


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Roots:
    """Empty stand-ins for /, the home directory and %LOCALAPPDATA%; the working directory
    is a fresh one; no PLEXFM_ variables."""
    plexfm_only(monkeypatch)
    roots = Roots(tmp_path / "root", tmp_path / "home", tmp_path / "appdata", None)
    monkeypatch.setattr(init_command, "search_roots", lambda: roots)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return roots


def _plex_db(base: Path, *parts: str) -> Path:
    path = base.joinpath(*parts, *DATABASE)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"SQLite format 3\x00")
    return path


def _init(*argv: str) -> int:
    return main(["init", "--offline", "--lastfm-user", "alice", "--lastfm-api-key", KEY,
                 *argv])


def test_init_writes_the_commented_example_with_the_one_database_found(
    places: Roots, capsys: pytest.CaptureFixture[str]
) -> None:
    database = _plex_db(places.root, *LINUX)
    assert _init() == 0
    out = capsys.readouterr().out
    assert f"plex.database: {database} (found)" in out
    assert KEY not in out
    written = Path("config.yaml")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    config = load_config("config.yaml", environ={})
    assert (config.lastfm.user, config.lastfm.api_key) == ("alice", KEY)
    assert config.plex.database == str(database)
    example = (ROOT / "config.yaml.example").read_text().splitlines()
    text = written.read_text().splitlines()
    assert len(text) == len(example)
    changed = [(a, b) for a, b in zip(example, text, strict=True) if a != b]
    assert [b.split(":")[0].strip() for _a, b in changed] == ["api_key", "user", "database"]


def test_init_never_replaces_a_file_without_force(
    places: Roots, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("config.yaml").write_text("mine\n")
    assert _init() == 1
    assert "config.yaml exists: not replaced (--force replaces it)" in capsys.readouterr().err
    assert Path("config.yaml").read_text() == "mine\n"
    assert _init("--force") == 0
    assert "api_key" in Path("config.yaml").read_text()
    assert _init("elsewhere/my.yaml") == 1  # no such directory: one line, nothing written
    assert capsys.readouterr().err.startswith("plexfm: cannot write elsewhere/my.yaml")


def test_init_leaves_the_database_empty_unless_exactly_one_is_found(
    places: Roots, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _init() == 0
    assert "no Plex database found in the usual places" in capsys.readouterr().out
    synology = _plex_db(places.root, *SYNOLOGY)
    link = places.root / "var" / "packages" / "PlexMediaServer" / "shares" / "PlexMediaServer"
    link.parent.mkdir(parents=True)
    link.symlink_to(places.root / "volume1" / "PlexMediaServer")  # the same database twice
    assert _init("--force") == 0
    assert f"plex.database: {synology} (found)" in capsys.readouterr().out
    mac = _plex_db(places.home, "Library", "Application Support", PMS)
    windows = _plex_db(places.local_app_data or Path(), PMS)
    assert _init("--force") == 0
    out = capsys.readouterr().out
    assert "several Plex databases found, plex.database left empty" in out
    for path in (synology, mac, windows):
        assert str(path) in out
    assert yaml.safe_load(Path("config.yaml").read_text())["plex"]["database"] == ""
    assert _init("--force", "--plex-database", str(mac)) == 0
    assert load_config("config.yaml", environ={}).plex.database == str(mac)


@pytest.fixture
def lastfm(places: Roots, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLastfm]:
    server = FakeLastfm()
    server.add_user("alice", [Scrobble(1_500_000_000 + i, "A", f"T{i}", "") for i in range(3)],
                    registered=1_400_000_000)
    with server:
        monkeypatch.setenv("PLEXFM_LASTFM_API_URL", server.url)
        yield server


def test_init_checks_the_user_and_key_with_lastfm(
    lastfm: FakeLastfm, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--lastfm-user", "alice", "--lastfm-api-key", DEFAULT_API_KEY]) == 0
    out, err = capsys.readouterr()
    assert "lastfm.user: alice (checked with last.fm: 3 scrobbles since 2014-05-" in out
    bad_key = "f" * 32
    assert main(["init", "--force", "--lastfm-user", "alice", "--lastfm-api-key", bad_key]) == 2
    out, err = capsys.readouterr()
    assert "last.fm refused" in err
    assert "nothing written" in err
    assert bad_key not in out + err
    assert load_config("config.yaml", environ={}).lastfm.api_key == DEFAULT_API_KEY
    assert main(["init", "--force", "--lastfm-user", "nobody-here", "--lastfm-api-key",
                 DEFAULT_API_KEY]) == 2
    assert "no user 'nobody-here'" in capsys.readouterr().err


def test_init_offline_is_a_note_not_an_error(
    places: Roots, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLEXFM_LASTFM_API_URL", "http://127.0.0.1:9/2.0/")
    assert main(["init", "--lastfm-user", "alice", "--lastfm-api-key", DEFAULT_API_KEY]) == 0
    out, err = capsys.readouterr()
    assert "last.fm could not be asked" in out
    assert DEFAULT_API_KEY not in out + err
    assert load_config("config.yaml", environ={}).lastfm.user == "alice"


def test_init_asks_on_a_terminal_and_never_shows_the_key(
    lastfm: FakeLastfm, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked: list[str] = []

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return DEFAULT_API_KEY

    monkeypatch.setattr("sys.stdin", Terminal("alice\n"))
    monkeypatch.setattr("getpass.getpass", getpass)
    assert main(["init"]) == 0
    out, err = capsys.readouterr()
    assert "last.fm user name: " in out
    assert asked == ["last.fm API key (https://www.last.fm/api/account/create): "]
    assert DEFAULT_API_KEY not in out + err
    config = load_config("config.yaml", environ={})
    assert (config.lastfm.user, config.lastfm.api_key) == ("alice", DEFAULT_API_KEY)


def test_init_without_a_terminal_leaves_the_lastfm_settings_to_fill(
    places: Roots, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["init", "my.yaml"]) == 0
    assert "set lastfm.user and lastfm.api_key in it" in capsys.readouterr().out
    assert main(["--config", "my.yaml", "check-config"]) == 2
    assert "lastfm.api_key: required but not set" in capsys.readouterr().err


@pytest.mark.slow
def test_the_wheel_carries_the_example_configuration(tmp_path: Path) -> None:
    """pip installs the example (for plexfm init): the package's copy is a link to the
    top-level config.yaml.example, and a built wheel holds the file's text."""
    link = ROOT / "daemon" / "config" / "config.yaml.example"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "config.yaml.example").resolve()
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "config.yaml.example"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "daemon", source / "daemon", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path / "out"), str(source)], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = (tmp_path / "out").glob("plexfm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("daemon/config/config.yaml.example").decode()
    assert shipped == (ROOT / "config.yaml.example").read_text()


def test_a_plex_database_that_does_not_exist_is_named_so(
    places: Roots, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "Plex" / "com.plexapp.plugins.library.db"
    assert _init("--plex-database", str(missing)) == 0  # Plex may come later: written
    out = capsys.readouterr().out
    assert f"note: {missing} does not exist: check plex.database" in out
    assert "cannot read" not in out  # not a matter of permissions
    assert load_config("config.yaml", environ={}).plex.database == str(missing)
