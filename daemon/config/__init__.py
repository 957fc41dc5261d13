"""Typed, frozen, validated configuration: YAML file + PLEXFM_<SECTION>_<KEY> overrides.

Every setting is declared once, as a dataclass field with its help text in `metadata`; that
declaration is the validation, the defaults, the environment mapping and the documentation
(`config.yaml.example` is checked against it by a test).
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import yaml

from daemon.config.checks import WINDOW_OFF, Check, parse_accounts, parse_window
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


def _coerce(key: str, expected: type[Any], value: Any, from_env: bool) -> Any:
    if from_env and isinstance(value, str):
        value = _parse_env_value(key, expected, value)
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, f"expected a whole number, got {value!r}")
    if expected is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ConfigError(key, f"expected a number, got {value!r}")
    if expected is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(key, f"expected text, got {value!r}")
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
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_PATH:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if (section, key) not in known:
            raise ConfigError(name, "unknown setting (environment variable)")
        overrides[(section, key)] = value
    return overrides


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(str(path), f"{problem}{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "the top level must be a mapping of sections")
    return data


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
        raw = _read_yaml(path)
        source = str(path)
    values: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for section, body in raw.items():
        if section not in SECTIONS:
            raise ConfigError(str(section), "unknown section")
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(str(section), "must be a mapping of keys")
        for key, value in body.items():
            full = f"{section}.{key}"
            if key not in {f.name for f in dataclasses.fields(SECTIONS[section])}:
                raise ConfigError(full, "unknown key")
            values[section][key] = _coerce(full, _field_type(section, key), value, False)
    for (section, key), value in _env_overrides(env).items():
        env_name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
        values[section][key] = _coerce(env_name, _field_type(section, key), value, True)
    sections: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            full = f"{section}.{f.name}"
            value = values[section].get(f.name, f.default)
            if f.metadata["required"] and value in ("", None):
                env_name = f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}"
                raise ConfigError(full, f"required but not set (config file or {env_name})")
            check: Check | None = f.metadata["check"]
            if check is not None and f.name in values[section] and (problem := check(value)):
                raise ConfigError(full, problem)
        sections[section] = cls(**values[section])
    return Config(**sections, source=source)
