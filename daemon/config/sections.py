"""The configuration's sections: one frozen dataclass each, every setting a field whose metadata
holds its help text and check (see `checks`)."""

from __future__ import annotations

from dataclasses import dataclass

from daemon.config.checks import (
    MAX_ACCOUNT_ID,
    accounts_check,
    aliases_check,
    between,
    http_url_check,
    name_check,
    one_of,
    optional_http_url_check,
    password_hash_check,
    setting,
    sqlite_url_check,
    token_check,
    window_check,
    zone_check,
)

PUBLIC_LASTFM_URL = "https://ws.audioscrobbler.com/2.0/"
PUBLIC_LISTENBRAINZ_URL = "https://api.listenbrainz.org/"


@dataclass(frozen=True)
class LastfmConfig:
    api_key: str = setting(
        "", "last.fm API key (https://www.last.fm/api/account/create)", secret=True, required=True,
        check=token_check,
    )
    user: str = setting("", "last.fm user name whose scrobbles are pulled", required=True,
                        check=name_check)
    api_url: str = setting(PUBLIC_LASTFM_URL, "last.fm API endpoint", check=http_url_check)
    requests_per_second: float = setting(
        4.0, "request rate to last.fm; requests are paced to this", check=between(0.05, 1000)
    )
    page_size: int = setting(
        1000, "scrobbles asked for per page (falls back to 200 if refused)", check=between(1, 1000)
    )
    max_in_flight: int = setting(
        8, "most requests in flight at once (enough to reach the rate)", check=between(1, 64)
    )
    timeout_seconds: float = setting(
        30.0, "deadline of one whole request, connect to last byte", check=between(1, 600))
    max_retries: int = setting(
        6, "retries of a failing request (backoff 1 s, 2 s, 4 s ... 60 s)", check=between(0, 20)
    )
    overlap_days: float = setting(
        14.0, "incremental pulls re-scan this many recent days (backdated scrobbles)",
        check=between(0, 365),
    )
    window_pages: int = setting(
        20, "backfill checkpoints windows of at most this many pages", check=between(1, 1000)
    )


@dataclass(frozen=True)
class ListenbrainzConfig:
    user: str = setting(
        "", "ListenBrainz user whose listens are pulled beside last.fm, on the same schedule "
        "(empty: off)")
    token: str = setting(
        "", "ListenBrainz user token (optional; a valid token gets higher rate limits)",
        secret=True)
    api_url: str = setting(PUBLIC_LISTENBRAINZ_URL, "ListenBrainz API root",
                           check=http_url_check)
    page_size: int = setting(
        1000, "listens asked for per request (ListenBrainz serves at most 1000)",
        check=between(1, 1000))
    timeout_seconds: float = setting(30.0, "timeout of one request", check=between(1, 600))
    max_retries: int = setting(
        6, "retries of a failing request (backoff 1 s, 2 s, 4 s ... 60 s; a 429 waits as long "
        "as the server says)", check=between(0, 20))
    overlap_days: float = setting(
        14.0, "each pull re-scans this many recent days (listens submitted late)",
        check=between(0, 365))


@dataclass(frozen=True)
class PlexConfig:
    database: str = setting(
        "", "path of Plex's com.plexapp.plugins.library.db (read for the library mirror; "
        "preferred when reachable)"
    )
    url: str = setting("", "Plex server URL, e.g. http://127.0.0.1:32400 (used when the "
                        "database file is not reachable)", check=optional_http_url_check)
    token: str = setting("", "Plex token (X-Plex-Token) for plex.url", secret=True,
                         check=token_check)
    section: str = setting("Music", "title of the music library section")
    timeout_seconds: float = setting(30.0, "timeout of one request to Plex",
                                      check=between(1, 600))
    account_id: int = setting(1, "Plex account the plays of lastfm.user are written for "
                               "(1 is the server owner)", check=between(1, MAX_ACCOUNT_ID))
    accounts: str = setting("", "more last.fm users and their Plex accounts, e.g. "
                             "'partner:5, kid:7' (their scrobbles must be pulled too)",
                             check=accounts_check)


@dataclass(frozen=True)
class ApplyConfig:
    mode: str = setting("offline", "how plays reach Plex: offline, live, api or dry-run",
                         check=one_of("offline", "live", "api", "dry-run"))
    window: str = setting("04:00-05:00", "maintenance window, local time (HH:MM-HH:MM), or "
                           "off (no scheduled apply; run plexfm apply --now yourself)",
                           check=window_check)
    stop_command: str = setting("", "command that stops Plex for the window, e.g. "
                                 "'systemctl stop plexmediaserver'")
    start_command: str = setting("", "command that starts Plex after the window, e.g. "
                                  "'systemctl start plexmediaserver'")
    backup_dir: str = setting("", "where Plex database backups go (default: data_dir/backups)")
    backups_keep: int = setting(7, "how many backups to keep", check=between(1, 1000))
    dedupe_slack_minutes: float = setting(
        5.0, "a scrobble within the track's duration plus this of a play Plex already has is "
        "that play", check=between(0, 1440))
    session_poll_seconds: float = setting(
        60.0, "while someone is playing, look again after this long (within the window)",
        check=between(1, 3600))
    plex_stop_timeout_seconds: float = setting(
        120.0, "how long Plex may take to stop", check=between(1, 3600))
    live_batch_size: int = setting(
        5000, "plays per transaction in live mode (short write locks)", check=between(1, 10**7))
    allow_unknown_schema: bool = setting(
        False, "write a Plex database whose schema version is outside the known-good range "
        "(plexfm doctor tells; docs/plex-fidelity.md)")


@dataclass(frozen=True)
class ScheduleConfig:
    pull_minutes: float = setting(
        15.0, "pull new scrobbles from last.fm every N minutes (0 turns the job off)",
        check=between(0, 10080),
    )
    library_minutes: float = setting(
        60.0, "refresh the library mirror every N minutes (0 turns the job off)",
        check=between(0, 10080),
    )
    match_after_pull: bool = setting(True, "match new scrobbles right after each pull")
    plex_watch_minutes: float = setting(
        2.0, "look every N minutes whether Plex reports a library change, and refresh the "
        "mirror at once (needs plex.url and plex.token; 0 turns it off)",
        check=between(0, 1440))
    retry_budget: int = setting(
        3, "consecutive failures of a job before /healthz reports it", check=between(1, 100)
    )


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = setting(True, "serve /healthz, /metrics and the status page")
    host: str = setting("127.0.0.1", "address the web server listens on")
    port: int = setting(8411, "port the web server listens on", check=between(1, 65535))
    password: str = setting(
        "", "hash of the status page password, made by plexfm web-password (required when "
        "web.host is not a loopback address, unless web.trusted_header is set)",
        secret=True, check=password_hash_check)
    trusted_header: str = setting(
        "", "request header set by an authenticating reverse proxy, e.g. X-Forwarded-User "
        "(the proxy must be the only way in, and must drop this header from clients)")


@dataclass(frozen=True)
class StoreConfig:
    data_dir: str = setting(
        "", "directory for plexfm's own data (default: $STATE_DIRECTORY, else "
        "~/.local/share/plexfm)"
    )
    url: str = setting("", "SQLAlchemy URL of plexfm's store (default: SQLite in data_dir)",
                       check=sqlite_url_check)


@dataclass(frozen=True)
class AnalyticsConfig:
    timezone: str = setting("", "time zone of the listening views, e.g. Europe/Berlin "
                             "(empty: the system's)", check=zone_check)
    hemisphere: str = setting("north", "hemisphere for seasons: north or south",
                               check=one_of("north", "south"))
    min_tag_weight: int = setting(
        10, "last.fm tags weighted below this (the top tag is 100) are not genres",
        check=between(0, 100))
    genre_aliases: str = setting(
        "", "extra tag=genre mappings, e.g. 'chiptune=electronic, krautrock=krautrock' "
        "(a new genre name is added to the whitelist; 'tag=' ignores a tag)", check=aliases_check)


@dataclass(frozen=True)
class TagsConfig:
    interval_minutes: float = setting(
        60.0, "fetch genre tags of new artists from last.fm every N minutes (0 turns the job "
        "off)", check=between(0, 10080))
    max_age_days: float = setting(
        180.0, "tags older than this are fetched again", check=between(1, 3650))
    refresh_per_run: int = setting(
        300, "most old tags refreshed per run (oldest first)", check=between(0, 100_000))
    track_tags: bool = setting(
        True, "for artists without tags, ask track.getTopTags for their most played tracks")
    tracks_per_artist: int = setting(
        3, "tracks asked for per artist without tags", check=between(1, 20))


@dataclass(frozen=True)
class LogConfig:
    level: str = setting(
        "INFO", "log level", check=one_of("DEBUG", "INFO", "WARNING", "ERROR")
    )
