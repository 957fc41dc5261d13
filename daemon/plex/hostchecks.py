"""The doctor's questions about the machine around Plex's database: who owns it, is there room
for a backup, is Plex running, does the token work. Plain values in, plain values out; the
token never appears in anything returned.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import requests

PLEX_PROCESS = "Plex Media Server"
BACKUP_MARGIN = 1.1  # a backup is the database plus its WAL; keep 10 % to spare


@dataclass(frozen=True)
class Ownership:
    owner: str
    owner_uid: int
    user: str  # the user plexfm runs as
    user_uid: int
    file_writable: bool
    dir_writable: bool  # SQLite needs the folder for -wal/-shm/-journal


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def ownership(path: Path) -> Ownership:
    """Who owns the database, who we are, and whether we can write it and its folder."""
    uid = os.geteuid()
    owner = path.stat().st_uid
    return Ownership(_name(owner), owner, _name(uid), uid, os.access(path, os.W_OK),
                     os.access(path.parent, os.W_OK | os.X_OK))


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (the backup folder may not exist yet)."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


@dataclass(frozen=True)
class DiskRoom:
    folder: Path
    free: int
    needed: int

    @property
    def enough(self) -> bool:
        return self.free >= self.needed


def backup_room(database: Path, backup_dir: Path) -> DiskRoom:
    """Free bytes where the backup goes, against what one backup takes (DB + WAL, +10 %)."""
    wal = Path(f"{database}-wal")
    size = database.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    folder = existing_parent(backup_dir)
    return DiskRoom(folder, shutil.disk_usage(folder).free, int(size * BACKUP_MARGIN))


def plex_processes(proc: Path = Path("/proc")) -> int:
    """How many processes on this machine run Plex Media Server (0 where /proc cannot tell,
    e.g. Plex in another container)."""
    found = 0
    try:
        entries = list(proc.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        if os.path.basename(argv0.decode(errors="replace")) == PLEX_PROCESS:
            found += 1
    return found


@dataclass(frozen=True)
class TokenCheck:
    reachable: bool
    status: int | None  # HTTP status of GET / with the token
    version: str = ""

    @property
    def works(self) -> bool:
        return self.status == 200

    @property
    def rejected(self) -> bool:
        return self.status in (401, 403)


def check_token(url: str, token: str, *, timeout: float = 5.0,
                session: requests.Session | None = None) -> TokenCheck:
    """GET ``/`` with the token: reachable at all, and what the server said."""
    http = session or requests.Session()
    try:
        response = http.get(f"{url.rstrip('/')}/", headers={"X-Plex-Token": token},
                            timeout=timeout)
    except requests.RequestException:
        return TokenCheck(False, None)
    version = ""
    if response.status_code == 200:
        try:  # the user's own server, as plexapi parses it
            version = ElementTree.fromstring(response.content).get("version", "")  # noqa: S314
        except ElementTree.ParseError:
            version = ""
    return TokenCheck(True, response.status_code, version)
