"""Typed, frozen, validated configuration: YAML file + PLEXFM_<SECTION>_<KEY> overrides.

Every setting is declared once, as a dataclass field with its help text in `metadata`; that
declaration is the validation, the defaults, the environment mapping and the documentation
(`config.yaml.example` is checked against it by a test).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from daemon.config.checks import WINDOW_OFF, Check, parse_accounts, parse_window, show, show_name
from daemon.config.files import read_yaml
from daemon.config.sections import (
    AnalyticsConfig,
    ApplyConfig,
    LastfmConfig,
    ListenbrainzConfig,
    LogConfig,
    PlexConfig,
    ScheduleConfig,
    StoreConfig,
    TagsConfig,
    WebConfig,
)
from daemon.errors import ConfigError

ENV_PREFIX = "PLEXFM_"
ENV_CONFIG_PATH = "PLEXFM_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.yaml")
REDACTED = "********"
NOT_SETTINGS = frozenset({ENV_CONFIG_PATH})


def _did_you_mean(word: str, choices: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


def _is_secret(section: str, key: str) -> bool:
    return any(s == section and f.name == key and f.metadata["secret"]
               for s, f in iter_settings())


@dataclass(frozen=True)
class Config:
    lastfm: LastfmConfig = field(default_factory=LastfmConfig)
    listenbrainz: ListenbrainzConfig = field(default_factory=ListenbrainzConfig)
    plex: PlexConfig = field(default_factory=PlexConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    web: WebConfig = field(default_factory=WebConfig)
    apply: ApplyConfig = field(default_factory=ApplyConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    log: LogConfig = field(default_factory=LogConfig)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    tags: TagsConfig = field(default_factory=TagsConfig)
    source: str = "(defaults)"

    @property
    def data_dir(self) -> Path:
        if self.store.data_dir:
            return Path(self.store.data_dir).expanduser()
        if state := os.environ.get("STATE_DIRECTORY"):
            return Path(state.split(":")[0])
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(xdg) / "plexfm"

    @property
    def apply_window(self) -> tuple[dt_time, dt_time] | None:
        """The maintenance window, None when scheduled applies are off."""
        if self.apply.window.strip().lower() == WINDOW_OFF:
            return None
        return parse_window(self.apply.window)

    @property
    def accounts(self) -> dict[str, int]:
        """last.fm user -> Plex account id, lastfm.user first."""
        return {self.lastfm.user: self.plex.account_id, **parse_accounts(self.plex.accounts)}

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_dir / 'plexfm.db'}"

    def warnings(self) -> list[str]:
        """Valid but incomplete: what cannot work with these settings, one line each."""
        found = []
        if not self.plex.database and not self.plex.url:
            found.append("neither plex.database nor plex.url is set: the library cannot be "
                         "mirrored and no play can be written into Plex")
        if self.plex.url and not self.plex.token and not self.plex.database:
            found.append("plex.url is set without plex.token: Plex will refuse the requests")
        if self.apply.mode in ("offline", "live") and not self.plex.database:
            found.append(f"apply.mode {self.apply.mode} writes Plex's database file, but "
                         "plex.database is not set")
        return found

    def secrets(self) -> list[str]:
        """Every secret value that is set, for the log redaction filter."""
        found = []
        for section_name, setting in iter_settings():
            if setting.metadata["secret"]:
                value = getattr(getattr(self, section_name), setting.name)
                if value:
                    found.append(str(value))
        return found

    def redacted(self) -> dict[str, dict[str, Any]]:
        """The whole configuration as plain data, secrets replaced, for printing."""
        out: dict[str, dict[str, Any]] = {}
        for section_name, setting in iter_settings():
            value = getattr(getattr(self, section_name), setting.name)
            if setting.metadata["secret"] and value:
                value = REDACTED
            out.setdefault(section_name, {})[setting.name] = value
        return out


SECTIONS: dict[str, type[Any]] = {
    f.name: typing.get_type_hints(Config)[f.name]
    for f in dataclasses.fields(Config)
    if f.name != "source"
}


def iter_settings() -> list[tuple[str, dataclasses.Field[Any]]]:
    """Every (section, field) pair in declaration order."""
    return [
        (section, f) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
    ]


def _field_type(section: str, name: str) -> type[Any]:
    hint: type[Any] = typing.get_type_hints(SECTIONS[section])[name]
    return hint


def _coerce(key: str, expected: type[Any], value: Any, from_env: bool,
            secret: bool = False) -> Any:
    try:
        return _coerce_value(key, expected, value, from_env)
    except ConfigError as exc:
        if secret:  # never echo a secret, not even a malformed one
            raise ConfigError(key, exc.problem.split(", got ")[0] + " (value not shown: it is "
                              "a secret)") from None
        raise


def _coerce_value(key: str, expected: type[Any], value: Any, from_env: bool) -> Any:
    if from_env and isinstance(value, str):
        value = _parse_env_value(key, expected, value)
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, f"expected true or false, got {show(value)}")
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, f"expected a whole number, got {show(value)}")
    if expected is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ConfigError(key, f"expected a number, got {show(value)}")
    if expected is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(key, f"expected text, got {show(value)}")
    raise ConfigError(key, f"unsupported setting type {expected!r}")  # pragma: no cover


def _parse_env_value(key: str, expected: type[Any], raw: str) -> Any:
    text = raw.strip()
    try:
        if expected is bool:
            lowered = text.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            return raw
        if expected is int:
            return int(text)
        if expected is float:
            return float(text)
    except ValueError:
        return raw
    return raw


def _env_overrides(environ: Mapping[str, str]) -> dict[tuple[str, str], str]:
    overrides: dict[tuple[str, str], str] = {}
    known = {(s, f.name) for s, f in iter_settings()}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if (section, key) not in known:
            names = [f"{ENV_PREFIX}{s.upper()}_{k.upper()}" for s, k in sorted(known)]
            raise ConfigError(show_name(name), "unknown setting (environment variable)"
                              + _did_you_mean(name, names))
        overrides[(section, key)] = value
    return overrides


def choose_path(explicit: str | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (then it must exist)."""
    if explicit:
        return Path(explicit), True
    if env_path := environ.get(ENV_CONFIG_PATH):
        return Path(env_path), True
    return DEFAULT_CONFIG_PATH, False


def load_config(
    explicit_path: str | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read, merge and validate the configuration; raise ConfigError naming the first bad key."""
    env = os.environ if environ is None else environ
    path, named = choose_path(explicit_path, env)
    raw: dict[str, Any] = {}
    source = "environment"
    if path.exists() or named:
        raw = read_yaml(path)
        source = str(path)
    values: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for section, body in raw.items():
        if section not in SECTIONS:
            raise ConfigError(show_name(section), "unknown section" + _did_you_mean(
                str(section), list(SECTIONS)))
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(str(section), "must be a mapping of keys")
        for key, value in body.items():
            full = f"{section}.{key}"
            names = [f.name for f in dataclasses.fields(SECTIONS[section])]
            if key not in names:
                raise ConfigError(f"{section}.{show_name(key)}", "unknown key" + _did_you_mean(
                    str(key), names, f"{section}."))
            values[section][key] = _coerce(full, _field_type(section, key), value, False,
                                           _is_secret(section, key))
    for (section, key), value in _env_overrides(env).items():
        env_name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
        values[section][key] = _coerce(env_name, _field_type(section, key), value, True,
                                       _is_secret(section, key))
    sections: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            full = f"{section}.{f.name}"
            value = values[section].get(f.name, f.default)
            if f.metadata["required"] and value in ("", None):
                env_name = f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}"
                where = ("" if source != "environment" else
                         f"; no config file: {path} not found")
                raise ConfigError(full, f"required but not set (config file or {env_name}"
                                  f"{where})")
            check: Check | None = f.metadata["check"]
            if check is not None and f.name in values[section] and (problem := check(value)):
                raise ConfigError(full, problem)
        sections[section] = cls(**values[section])
    config = Config(**sections, source=source)
    _check_data_dir(config)
    return config


def _check_data_dir(config: Config) -> None:
    data_dir = config.data_dir
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError("store.data_dir", f"{show(str(data_dir))} exists and is not a "
                          "directory")
