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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import yaml

from daemon.errors import ConfigError

ENV_PREFIX = "PLEXFM_"
ENV_CONFIG_PATH = "PLEXFM_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.yaml")
PUBLIC_LASTFM_URL = "https://ws.audioscrobbler.com/2.0/"
REDACTED = "********"

Check = Callable[[Any], str | None]


def _setting(
    default: Any,
    help_text: str,
    *,
    secret: bool = False,
    required: bool = False,
    check: Check | None = None,
) -> Any:
    meta = {"help": help_text, "secret": secret, "required": required, "check": check}
    return field(default=default, metadata=meta)


def _between(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if not low <= value <= high:
            return f"must be between {low:g} and {high:g}, got {value!r}"
        return None

    return check


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(choices)}, got {value!r}"
        return None

    return check


WINDOW_OFF = "off"


def _window(value: Any) -> str | None:
    if str(value).strip().lower() == WINDOW_OFF:
        return None
    try:
        parse_window(str(value))
    except ValueError:
        return f"must look like 04:00-05:00 (local time) or be off, got {value!r}"
    return None


def parse_window(text: str) -> tuple[dt_time, dt_time]:
    """'HH:MM-HH:MM' as (start, end) local times; the window may cross midnight."""
    start, _, end = text.partition("-")
    first = dt_time.fromisoformat(start.strip())
    last = dt_time.fromisoformat(end.strip())
    if first == last:
        raise ValueError("empty window")
    return first, last


def _accounts(value: Any) -> str | None:
    try:
        parse_accounts(str(value))
    except ValueError:
        return f"must look like 'alice:1, bob:5' (last.fm user: Plex account id), got {value!r}"
    return None


def parse_accounts(text: str) -> dict[str, int]:
    """'alice:1, bob:5' as {"alice": 1, "bob": 5} ('' is an empty mapping)."""
    mapping: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        user, _, account = part.rpartition(":")
        if not user.strip():
            raise ValueError(part)
        mapping[user.strip()] = int(account)
    return mapping


def _http_url(value: Any) -> str | None:
    if not str(value).startswith(("http://", "https://")):
        return f"must be an http:// or https:// URL, got {value!r}"
    return None


@dataclass(frozen=True)
class LastfmConfig:
    api_key: str = _setting(
        "", "last.fm API key (https://www.last.fm/api/account/create)", secret=True, required=True
    )
    user: str = _setting("", "last.fm user name whose scrobbles are pulled", required=True)
    api_url: str = _setting(PUBLIC_LASTFM_URL, "last.fm API endpoint", check=_http_url)
    requests_per_second: float = _setting(
        4.0, "request rate to last.fm; requests are paced to this", check=_between(0.05, 1000)
    )
    page_size: int = _setting(
        1000, "scrobbles asked for per page (falls back to 200 if refused)", check=_between(1, 1000)
    )
    max_in_flight: int = _setting(
        8, "most requests in flight at once (enough to reach the rate)", check=_between(1, 64)
    )
    timeout_seconds: float = _setting(30.0, "timeout of one request", check=_between(1, 600))
    max_retries: int = _setting(
        6, "retries of a failing request (backoff 1 s, 2 s, 4 s ... 60 s)", check=_between(0, 20)
    )
    overlap_days: float = _setting(
        14.0, "incremental pulls re-scan this many recent days (backdated scrobbles)",
        check=_between(0, 365),
    )
    window_pages: int = _setting(
        20, "backfill checkpoints windows of at most this many pages", check=_between(1, 1000)
    )


@dataclass(frozen=True)
class PlexConfig:
    database: str = _setting(
        "", "path of Plex's com.plexapp.plugins.library.db (read for the library mirror; "
        "preferred when reachable)"
    )
    url: str = _setting("", "Plex server URL, e.g. http://127.0.0.1:32400 (used when the "
                        "database file is not reachable)")
    token: str = _setting("", "Plex token (X-Plex-Token) for plex.url", secret=True)
    section: str = _setting("Music", "title of the music library section")
    timeout_seconds: float = _setting(30.0, "timeout of one request to Plex",
                                      check=_between(1, 600))
    account_id: int = _setting(1, "Plex account the plays of lastfm.user are written for "
                               "(1 is the server owner)", check=_between(1, 10**9))
    accounts: str = _setting("", "more last.fm users and their Plex accounts, e.g. "
                             "'partner:5, kid:7' (their scrobbles must be pulled too)",
                             check=_accounts)


@dataclass(frozen=True)
class ApplyConfig:
    mode: str = _setting("offline", "how plays reach Plex: offline, live, api or dry-run",
                         check=_one_of("offline", "live", "api", "dry-run"))
    window: str = _setting("04:00-05:00", "maintenance window, local time (HH:MM-HH:MM), or "
                           "off (no scheduled apply; run plexfm apply --now yourself)",
                           check=_window)
    stop_command: str = _setting("", "command that stops Plex for the window, e.g. "
                                 "'systemctl stop plexmediaserver'")
    start_command: str = _setting("", "command that starts Plex after the window, e.g. "
                                  "'systemctl start plexmediaserver'")
    backup_dir: str = _setting("", "where Plex database backups go (default: data_dir/backups)")
    backups_keep: int = _setting(7, "how many backups to keep", check=_between(1, 1000))
    dedupe_slack_minutes: float = _setting(
        5.0, "a scrobble within the track's duration plus this of a play Plex already has is "
        "that play", check=_between(0, 1440))
    session_poll_seconds: float = _setting(
        60.0, "while someone is playing, look again after this long (within the window)",
        check=_between(1, 3600))
    plex_stop_timeout_seconds: float = _setting(
        120.0, "how long Plex may take to stop", check=_between(1, 3600))
    live_batch_size: int = _setting(
        5000, "plays per transaction in live mode (short write locks)", check=_between(1, 10**7))


@dataclass(frozen=True)
class ScheduleConfig:
    pull_minutes: float = _setting(
        15.0, "pull new scrobbles from last.fm every N minutes (0 turns the job off)",
        check=_between(0, 10080),
    )
    library_minutes: float = _setting(
        60.0, "refresh the library mirror every N minutes (0 turns the job off)",
        check=_between(0, 10080),
    )
    match_after_pull: bool = _setting(True, "match new scrobbles right after each pull")
    plex_watch_minutes: float = _setting(
        2.0, "look every N minutes whether Plex reports a library change, and refresh the "
        "mirror at once (needs plex.url and plex.token; 0 turns it off)",
        check=_between(0, 1440))
    retry_budget: int = _setting(
        3, "consecutive failures of a job before /healthz reports it", check=_between(1, 100)
    )


def _password_hash(value: Any) -> str | None:
    from daemon.web.passwords import is_password_hash  # hashlib only, no web stack

    if value and not is_password_hash(str(value)):
        return ("must be a hash made by `plexfm web-password`, not the password itself "
                "(run it and paste its output)")
    return None


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = _setting(True, "serve /healthz, /metrics and the status page")
    host: str = _setting("127.0.0.1", "address the web server listens on")
    port: int = _setting(8411, "port the web server listens on", check=_between(1, 65535))
    password: str = _setting(
        "", "hash of the status page password, made by plexfm web-password (required when "
        "web.host is not a loopback address, unless web.trusted_header is set)",
        secret=True, check=_password_hash)
    trusted_header: str = _setting(
        "", "request header set by an authenticating reverse proxy, e.g. X-Forwarded-User "
        "(the proxy must be the only way in, and must drop this header from clients)")


@dataclass(frozen=True)
class StoreConfig:
    data_dir: str = _setting(
        "", "directory for plexfm's own data (default: $STATE_DIRECTORY, else "
        "~/.local/share/plexfm)"
    )
    url: str = _setting("", "SQLAlchemy URL of plexfm's store (default: SQLite in data_dir)")


def _zone(value: Any) -> str | None:
    if not str(value).strip():
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value).strip())
    except (ZoneInfoNotFoundError, ValueError):
        return f"must be an IANA time zone such as Europe/Berlin (or empty), got {value!r}"
    return None


def _aliases(value: Any) -> str | None:
    try:
        parse_aliases(str(value))
    except ValueError:
        return f"must look like 'hiphop=hip hop, dnb=drum and bass', got {value!r}"
    return None


def parse_aliases(text: str) -> dict[str, str]:
    """'a=b, c=d' as {"a": "b", "c": "d"} ('' is an empty mapping; a blank target ignores a)."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        tag, equals, genre = part.partition("=")
        if not equals or not tag.strip():
            raise ValueError(part)
        mapping[tag.strip()] = genre.strip()
    return mapping


@dataclass(frozen=True)
class AnalyticsConfig:
    timezone: str = _setting("", "time zone of the listening views, e.g. Europe/Berlin "
                             "(empty: the system's)", check=_zone)
    hemisphere: str = _setting("north", "hemisphere for seasons: north or south",
                               check=_one_of("north", "south"))
    min_tag_weight: int = _setting(
        10, "last.fm tags weighted below this (the top tag is 100) are not genres",
        check=_between(0, 100))
    genre_aliases: str = _setting(
        "", "extra tag=genre mappings, e.g. 'chiptune=electronic, krautrock=krautrock' "
        "(a new genre name is added to the whitelist; 'tag=' ignores a tag)", check=_aliases)


@dataclass(frozen=True)
class TagsConfig:
    interval_minutes: float = _setting(
        60.0, "fetch genre tags of new artists from last.fm every N minutes (0 turns the job "
        "off)", check=_between(0, 10080))
    max_age_days: float = _setting(
        180.0, "tags older than this are fetched again", check=_between(1, 3650))
    refresh_per_run: int = _setting(
        300, "most old tags refreshed per run (oldest first)", check=_between(0, 100_000))
    track_tags: bool = _setting(
        True, "for artists without tags, ask track.getTopTags for their most played tracks")
    tracks_per_artist: int = _setting(
        3, "tracks asked for per artist without tags", check=_between(1, 20))


@dataclass(frozen=True)
class LogConfig:
    level: str = _setting(
        "INFO", "log level", check=_one_of("DEBUG", "INFO", "WARNING", "ERROR")
    )


@dataclass(frozen=True)
class Config:
    lastfm: LastfmConfig = field(default_factory=LastfmConfig)
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
