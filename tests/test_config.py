"""Config: YAML + environment, validation naming the key, redaction, the example file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from daemon.config import REDACTED, iter_settings, load_config
from daemon.config.sections import PUBLIC_LASTFM_URL
from daemon.errors import ConfigError

ROOT = Path(__file__).parent.parent
MINIMAL = {"PLEXFM_LASTFM_API_KEY": "k" * 32, "PLEXFM_LASTFM_USER": "alice"}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_with_only_required_keys_from_environment() -> None:
    config = load_config(None, environ=MINIMAL)
    assert config.lastfm.api_url == PUBLIC_LASTFM_URL
    assert config.lastfm.requests_per_second == 4.0
    assert config.lastfm.page_size == 1000
    assert config.lastfm.overlap_days == 14.0
    assert config.store_url.startswith("sqlite:///")


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "lastfm:\n  api_key: filekey1234\n  user: bob\n"
                 "  requests_per_second: 2\nstore:\n  url: sqlite:///x.db\n")
    config = load_config(path, environ={"PLEXFM_LASTFM_REQUESTS_PER_SECOND": "5.5"})
    assert config.lastfm.user == "bob"
    assert config.lastfm.requests_per_second == 5.5
    assert config.store_url == "sqlite:///x.db"
    assert config.source == path


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "lastfm: {api_key: abcd1234, user: carol}\n")
    config = load_config(None, environ={"PLEXFM_CONFIG": path})
    assert config.lastfm.user == "carol"


def test_data_dir_defaults_to_systemd_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/plexfm")
    config = load_config(None, environ=MINIMAL)
    assert config.store_url == "sqlite:////var/lib/plexfm/plexfm.db"


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("lastfm: {api_key: k, user: u, colour: red}\n", {}, "lastfm.colour"),
        ("lastfmm: {}\nlastfm: {api_key: k, user: u}\n", {}, "lastfmm"),
        ("lastfm: {api_key: k, user: u, requests_per_second: fast}\n", {},
         "lastfm.requests_per_second"),
        ("lastfm: {api_key: k, user: u, page_size: 5000}\n", {}, "lastfm.page_size"),
        ("lastfm: {api_key: k, user: u, page_size: 2.5}\n", {}, "lastfm.page_size"),
        ("lastfm: {api_key: k, user: u, api_url: ftp://x}\n", {}, "lastfm.api_url"),
        ("lastfm: {user: u}\n", {}, "lastfm.api_key"),
        ("lastfm: {api_key: k}\n", {}, "lastfm.user"),
        ("lastfm: [1, 2]\n", {}, "lastfm"),
        ("log: {level: LOUD}\nlastfm: {api_key: k, user: u}\n", {}, "log.level"),
        ("lastfm: {api_key: k, user: u}\n", {"PLEXFM_LASTFM_APIKEY": "x"}, "PLEXFM_LASTFM_APIKEY"),
        ("lastfm: {api_key: k, user: u}\n", {"PLEXFM_LASTFM_PAGE_SIZE": "many"},
         "PLEXFM_LASTFM_PAGE_SIZE"),
    ],
)
@pytest.mark.reliability("input", "bad configuration")
def test_bad_config_names_the_key(tmp_path: Path, text: str, env: dict[str, str],
                                  key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=env)
    assert caught.value.key == key
    assert "\n" not in str(caught.value)


@pytest.mark.reliability("input", "bad configuration")
def test_yaml_syntax_error_is_one_line_with_position(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"at line \d+$"):
        load_config(write(tmp_path, "lastfm:\n  user: [unclosed\n"), environ={})


@pytest.mark.reliability("input", "bad configuration")
def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.yaml"), environ={})


def test_secrets_are_redacted() -> None:
    config = load_config(None, environ=MINIMAL)
    data = config.redacted()
    assert data["lastfm"]["api_key"] == REDACTED
    assert "k" * 32 not in str(data)
    assert config.secrets() == ["k" * 32]


def test_example_file_documents_every_key_and_loads() -> None:
    example = ROOT / "config.yaml.example"
    data = yaml.safe_load(example.read_text())
    declared = {(section, f.name) for section, f in iter_settings()}
    documented = {(section, key) for section, body in data.items() for key in body}
    assert documented == declared
    text = example.read_text()
    for _section, f in iter_settings():
        assert f.metadata["help"].split(" (")[0] in text, f.name
    config = load_config(str(example), environ={})
    assert dataclasses.asdict(config.lastfm)["user"]
