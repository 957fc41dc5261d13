"""`plexfm init`: write a commented config.yaml to start from.

The text is config.yaml.example (shipped inside the package), with plex.database filled in
when exactly one Plex database is found in the usual places, and lastfm.user / api_key from
the options or asked for on a terminal (the key without echo). When last.fm can be reached
the user and key are checked with user.getInfo; a refusal writes nothing, no answer is only a
note. The key is never printed. An existing file is replaced only with --force.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from daemon.cli.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from daemon.config import ENV_CONFIG_PATH
from daemon.config.checks import name_check, token_check
from daemon.config.sections import PUBLIC_LASTFM_URL
from daemon.errors import LastfmError, LastfmFatalError
from daemon.logs import local_time, plural

DATABASE = ("Plug-in Support", "Databases", "com.plexapp.plugins.library.db")
PMS = "Plex Media Server"
APP_SUPPORT = ("Library", "Application Support")
_SECTION = re.compile(r"^(\w+):\s*$")
_KEY = re.compile(r"^  (\w+):")


@dataclass(frozen=True)
class Roots:
    """Where the usual places start (tests point them at a temporary directory)."""

    root: Path  # the file system's root
    home: Path  # the user's home (macOS keeps Plex's data there)
    local_app_data: Path | None  # %LOCALAPPDATA% (Windows)
    app_support: Path | None  # $PLEX_MEDIA_SERVER_APPLICATION_SUPPORT_DIR, when set


def search_roots() -> Roots:
    local, support = (os.environ.get(name) for name in
                      ("LOCALAPPDATA", "PLEX_MEDIA_SERVER_APPLICATION_SUPPORT_DIR"))
    return Roots(Path(Path.cwd().anchor or "/"), Path.home(), Path(local) if local else None,
                 Path(support) if support else None)


def candidates(r: Roots) -> list[Path]:
    """Where Plex Media Server keeps its library database, per install. Sources:
    ChuckPa/PlexDBRepair DBRepair.sh `HostConfig` (the data directory it probes per host:
    Linux packages, Arch, Synology DSM 7 and 6, ASUSTOR, macOS, Docker images: official,
    linuxserver, hotio, binhex), alekdavis/PlexBackup (Windows:
    `$env:LOCALAPPDATA\\Plex Media Server`), and a DSM 6 install in zabka1971's notes
    (/volume1/Plex/Library/Application Support/Plex Media Server/Plug-in Support/...)."""
    places = [
        # Linux packages (deb/rpm); PLEX_MEDIA_SERVER_APPLICATION_SUPPORT_DIR overrides it
        r.root.joinpath("var", "lib", "plexmediaserver", *APP_SUPPORT, PMS),
        r.root.joinpath("var", "lib", "plex", PMS),  # Arch Linux (AUR package)
        r.root.joinpath("config", *APP_SUPPORT, PMS),  # Docker: plexinc/pms-docker, linuxserver
        r.root.joinpath("config"),  # Docker: hotio (no "Plex Media Server" level)
        r.root.joinpath("config", PMS),  # Docker: binhex
        r.root.joinpath("volume1", "PlexMediaServer", "AppData", PMS),  # Synology DSM 7
        r.root.joinpath("var", "packages", "PlexMediaServer", "shares", "PlexMediaServer",
                        "AppData", PMS),  # Synology DSM 7, the package's link to that share
        r.root.joinpath("volume1", "Plex", *APP_SUPPORT, PMS),  # Synology DSM 6
        r.root.joinpath("volume1", "Plex", "Library", PMS),  # ASUSTOR
        r.home.joinpath(*APP_SUPPORT, PMS),  # macOS
    ]
    if r.local_app_data is not None:
        places.append(r.local_app_data / PMS)  # Windows: %LOCALAPPDATA%\Plex Media Server
    if r.app_support is not None:
        places.insert(0, r.app_support / PMS)
    return [place.joinpath(*DATABASE) for place in places]


def find_databases(r: Roots) -> list[Path]:
    """The Plex databases that exist, each once (a share and its link are one database)."""
    found: dict[Path, Path] = {}
    for path in candidates(r):
        try:
            if path.is_file():
                found.setdefault(path.resolve(), path)
        except OSError:  # a place we may not look into
            continue
    return list(found.values())


def example_text() -> str:
    """config.yaml.example, as shipped inside the package."""
    return files("daemon.config").joinpath("config.yaml.example").read_text(encoding="utf-8")


def fill(text: str, values: dict[tuple[str, str], str]) -> str:
    """The example with `values` ((section, key) -> text) set, comments kept."""
    lines = text.splitlines(keepends=True)
    section, missing = "", set(values)
    for i, line in enumerate(lines):
        if heading := _SECTION.match(line):
            section = heading.group(1)
        elif (key := _KEY.match(line)) and (section, key.group(1)) in values:
            lines[i] = f"  {key.group(1)}: {json.dumps(values[section, key.group(1)])}\n"
            missing.discard((section, key.group(1)))
    if missing:
        raise ValueError(f"the example has no {sorted(missing)}")
    return "".join(lines)


def cmd_init(args: argparse.Namespace) -> int:
    path = args.path or Path(args.config or os.environ.get(ENV_CONFIG_PATH) or "config.yaml")
    if path.exists() and not args.force:
        print(f"plexfm: {path} exists: not replaced (--force replaces it)", file=sys.stderr)
        return EXIT_FAILURE
    notes: list[str] = []
    database = args.plex_database or _choose_database(find_databases(search_roots()), notes)
    if database is not None and not database.exists():
        notes.append(f"{database} does not exist: check plex.database")
    elif database is not None and not os.access(database, os.R_OK):
        notes.append(f"plexfm cannot read {database} as this user: run it as a user that can "
                     "(e.g. in Plex's group)")
    user = _ask(args.lastfm_user, "last.fm user name: ", hidden=False)
    key = _ask(args.lastfm_api_key, "last.fm API key (https://www.last.fm/api/account/create): ",
               hidden=True)
    for name, value, check in (("lastfm.user", user, name_check),
                               ("lastfm.api_key", key, token_check)):
        if problem := check(value):
            print(f"plexfm: {name}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    if user and key and not args.offline:
        problem = _check_lastfm(user, key, notes)
        if problem:
            print(f"plexfm: {problem}; nothing written (--offline skips the check)",
                  file=sys.stderr)
            return EXIT_USAGE
    text = fill(example_text(), {("lastfm", "user"): user, ("lastfm", "api_key"): key,
                                 ("plex", "database"): str(database or "")})
    try:
        _write_private(path, text)
    except OSError as exc:
        print(f"plexfm: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {path} (readable by you only: it holds your API key)")
    if not (user and key):
        notes.append("set lastfm.user and lastfm.api_key in it (or PLEXFM_LASTFM_USER and "
                     "PLEXFM_LASTFM_API_KEY)")
    for note in notes:
        print(f"  note: {note}")
    print("next: plexfm check-config, then plexfm pull (the whole history, once)")
    return EXIT_OK


def _choose_database(found: list[Path], notes: list[str]) -> Path | None:
    if len(found) == 1:
        notes.append(f"plex.database: {found[0]} (found)")
        return found[0]
    if found:
        notes.append("several Plex databases found, plex.database left empty: "
                     + "; ".join(map(str, found)) + " (pick one with --plex-database)")
    else:
        notes.append("no Plex database found in the usual places: set plex.database (or "
                     "plex.url and plex.token)")
    return None


def _ask(given: str | None, prompt: str, *, hidden: bool) -> str:
    """The option's value; else, on a terminal, the answer (the key unechoed); else ""."""
    if given is not None or not sys.stdin.isatty():
        return (given or "").strip()
    try:
        return (getpass.getpass(prompt) if hidden else input(prompt)).strip()
    except EOFError:
        return ""


def _check_lastfm(user: str, key: str, notes: list[str]) -> str | None:
    """Ask last.fm about the user with the key: a problem to stop at, or None (a note when
    last.fm could not be asked)."""
    from daemon.lastfm.client import LastfmClient
    from daemon.lastfm.pacing import Pacer

    url = os.environ.get("PLEXFM_LASTFM_API_URL") or PUBLIC_LASTFM_URL
    client = LastfmClient(api_url=url, api_key=key, pacer=Pacer(4.0), timeout=10.0,
                          max_retries=0)
    try:
        data = client.call("user.getInfo", {"user": user}, what="user.getInfo", user=user)
    except LastfmFatalError as exc:  # a bad or suspended key, an unknown user
        return f"last.fm refused: {str(exc).replace(key, '********')}"
    except LastfmError as exc:
        notes.append(f"last.fm could not be asked ({exc}): user and key not checked")
        return None
    finally:
        client.close()
    info: dict[str, Any] = data.get("user") or {}
    plays = int(info.get("playcount") or 0)
    since = int((info.get("registered") or {}).get("unixtime") or 0)
    notes.append(f"lastfm.user: {info.get('name', user)} (checked with last.fm: "
                 f"{plural(plays, 'scrobble')}" + (f" since {local_time(since)[:10]})"
                                                   if since else ")"))
    return None


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` (mode 0600), all or nothing."""
    folder = path.parent if str(path.parent) else Path(".")
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
