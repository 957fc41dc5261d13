"""`plexfm doctor`: what plexfm sees in a user's Plex database (and server), and whether an
apply is safe there, with the reasons.

Every check yields a `Finding` (ok / info / warn / problem, one plain sentence, details as plain
data); the verdict is "safe" when no finding is a problem. The database is opened strictly
read-only (`daemon.plex.readonly`: no ``-wal``/``-shm`` left behind), the server is asked
``GET /`` with the token, which is never part of any finding.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from daemon.errors import PlexError
from daemon.plex import hostchecks, schema
from daemon.plex.readonly import ReadOnlyDatabase

OK, INFO, WARN, PROBLEM = "ok", "info", "warn", "problem"
MUSIC_SECTION_TYPE, TRACK_TYPE = 8, 10
GUID_FORMS_SQL = """
SELECT library_section_id,
       CASE WHEN guid LIKE 'plex://%' THEN 'plex://'
            WHEN guid LIKE 'com.plexapp.agents.%' THEN 'com.plexapp.agents.*'
            WHEN guid LIKE 'local://%' THEN 'local://' ELSE 'other' END,
       count(*)
FROM metadata_items WHERE metadata_type = 10 AND deleted_at IS NULL GROUP BY 1, 2
"""


@dataclass(frozen=True)
class DoctorInputs:
    """What the doctor looks at: plain values from the configuration."""

    database: Path
    backup_dir: Path
    url: str = ""
    token: str = ""
    mode: str = "offline"
    stop_command: str = ""
    allow_unknown_schema: bool = False
    timeout: float = 5.0


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Diagnosis:
    database: str
    findings: list[Finding]

    @property
    def reasons(self) -> list[str]:
        return [f.summary for f in self.findings if f.status == PROBLEM]

    @property
    def safe(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        return {"database": self.database, "safe": self.safe,
                "verdict": "safe to apply" if self.safe else "not safe to apply",
                "reasons": self.reasons, "checks": [asdict(f) for f in self.findings]}


def diagnose(inputs: DoctorInputs) -> Diagnosis:
    """Every check, in the order a person reads them."""
    findings: list[Finding] = []
    path = inputs.database
    facts = _database(path, findings)
    if facts is not None:
        findings += _schema(facts, inputs)
        if not any(f.status == PROBLEM and f.check == "schema" for f in findings):
            findings += _library(path)
        findings += _files(path, inputs)
    findings += _server(inputs)
    return Diagnosis(str(path), findings)


def _database(path: Path, findings: list[Finding]) -> schema.SchemaFacts | None:
    if not path.is_file():
        findings.append(Finding("database", PROBLEM, f"no database file at {path}"))
        return None
    try:
        facts = schema.read_facts(path)
    except PlexError as exc:
        findings.append(Finding("database", PROBLEM, str(exc)))
        return None
    state = ReadOnlyDatabase(path).state()
    wal = Path(f"{path}-wal")
    details = {"wal_mode": state.wal_format, "side_files": list(state.side_files),
               "wal_bytes": wal.stat().st_size if wal.exists() else 0, "bytes": state.size}
    if not state.wal_format:
        summary = "journal mode is not WAL (Plex keeps WAL): was it copied or converted?"
        findings.append(Finding("wal", WARN, summary, details))
    elif state.side_files:
        findings.append(Finding("wal", INFO, "WAL mode; -wal/-shm present: Plex (or someone) "
                                "has the database open, or did not close it cleanly", details))
    else:
        findings.append(Finding("wal", OK, "WAL mode, no -wal/-shm: nobody has it open",
                                details))
    return facts


def _schema(facts: schema.SchemaFacts, inputs: DoctorInputs) -> list[Finding]:
    structural = schema.write_problems(facts, allow_unknown=True)
    if "schema_migrations" not in facts.tables or schema.SETTINGS not in facts.tables:
        return [Finding("schema", PROBLEM, structural[0])]
    found = []
    version = {"version": facts.version, "migrations": facts.migrations,
               "known_oldest": schema.KNOWN_OLDEST, "known_newest": schema.KNOWN_NEWEST}
    known = facts.version is not None and \
        schema.KNOWN_OLDEST <= facts.version <= schema.KNOWN_NEWEST
    status = OK if known else WARN if inputs.allow_unknown_schema else PROBLEM
    named = "unknown PMS schema version" if facts.version is None else \
        f"PMS schema version {facts.version}"
    text = (f"{named} ({facts.migrations} migrations), "
            + ("inside" if known else "outside") + " the known-good range "
            f"{schema.KNOWN_OLDEST}-{schema.KNOWN_NEWEST}"
            + ("" if known or not inputs.allow_unknown_schema
               else "; apply.allow_unknown_schema is set"))
    found.append(Finding("schema_version", status, text, version))
    found += [Finding("schema", PROBLEM, p) for p in structural if p != facts.timestamps]
    stored = {"integer": "integer Unix seconds (PMS since 2022)",
              "legacy-string": "local-time text (PMS before 2022)"}.get(facts.timestamps, "")
    found.append(Finding("timestamps", OK if facts.timestamps_ok else PROBLEM,
                         f"timestamps stored as {stored}" if facts.timestamps_ok
                         else facts.timestamps, {"mode": facts.timestamps}))
    found.append(Finding("search_triggers", INFO, _search_text(facts), {
        "kind": facts.search_triggers, "triggers": [n for n, _ in facts.triggers],
        "icu": facts.icu, "naturalsort": facts.naturalsort}))
    view_type = "present" if facts.view_type else "absent"
    hashed = "with" if facts.hashed_passwords else "without"
    found.append(Finding("columns", INFO, f"metadata_item_views.view_type {view_type}; "
                         f"accounts {hashed} hashed_password",
                         {"view_type": facts.view_type,
                          "hashed_password": facts.hashed_passwords}))
    return found


def _search_text(facts: schema.SchemaFacts) -> str:
    kind = {"icu": "Plex's ICU search triggers and icu_root collation, which stock SQLite "
                   "cannot run",
            "non-icu (naturalsort)": "the pre-2021 search triggers and the naturalsort "
                                     "collation, which stock SQLite lacks",
            "none": "no search triggers"}[facts.search_triggers]
    return f"{len(facts.triggers)} triggers: {kind} (plexfm never writes the tables they watch)"


def _size(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def _library(path: Path) -> list[Finding]:
    def read(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        sections = conn.execute("SELECT id, name FROM library_sections WHERE section_type = ? "
                                "ORDER BY id", (MUSIC_SECTION_TYPE,)).fetchall()
        return sections, conn.execute(GUID_FORMS_SQL).fetchall()

    try:
        sections, forms = ReadOnlyDatabase(path).read(read)
    except PlexError as exc:
        return [Finding("sections", PROBLEM, str(exc))]
    music = {int(sid): str(name or "") for sid, name in sections}
    counts = {sid: 0 for sid in music}
    guids: dict[str, int] = {}
    for sid, form, count in forms:
        if sid in music:
            counts[int(sid)] += int(count)
            guids[str(form)] = guids.get(str(form), 0) + int(count)
    listed = [{"id": sid, "name": name, "tracks": counts[sid]} for sid, name in music.items()]
    text = "; ".join(f"{s['name']!r} (section {s['id']}): {s['tracks']:,} tracks"
                     for s in listed) or "no music library section"
    found = [Finding("sections", OK if music else WARN, f"music sections: {text}",
                     {"sections": listed})]
    forms_text = ", ".join(f"{form} {n:,}" for form, n in sorted(guids.items())) or "none"
    found.append(Finding("guids", INFO, f"track guid forms: {forms_text}", {"forms": guids}))
    return found


def _files(path: Path, inputs: DoctorInputs) -> list[Finding]:
    own = hostchecks.ownership(path)
    details = asdict(own)
    if not (own.file_writable and own.dir_writable):
        where = "the database" if not own.file_writable else "its folder"
        found = [Finding("ownership", PROBLEM, f"{own.user} cannot write {where} (owned by "
                         f"{own.owner}): run plexfm as {own.owner} or give it write access",
                         details)]
    else:
        same = own.owner_uid == own.user_uid
        found = [Finding("ownership", OK if same else WARN,
                         f"owned by {own.owner}; plexfm runs as {own.user}" +
                         ("" if same else ": files SQLite creates next to it (-wal, -shm) would "
                          "belong to another user"), details)]
    room = hostchecks.backup_room(path, inputs.backup_dir)
    details = {"folder": str(room.folder), "free_bytes": room.free, "needed_bytes": room.needed}
    found.append(Finding("disk", OK if room.enough else PROBLEM,
                         f"{_size(room.free)} free in {room.folder} for a backup of "
                         f"{_size(room.needed)}" + ("" if room.enough else ": not enough"),
                         details))
    return found


def _server(inputs: DoctorInputs) -> list[Finding]:
    found = []
    if inputs.url and inputs.token:
        token = hostchecks.check_token(inputs.url, inputs.token, timeout=inputs.timeout)
        running: bool | None = token.reachable
        if token.works:
            found.append(Finding("token", OK, f"the token works (PMS {token.version or '?'})",
                                 {"status": token.status, "version": token.version}))
        elif token.rejected:
            found.append(Finding("token", PROBLEM, f"Plex at {inputs.url} rejected the token "
                                 f"(HTTP {token.status})", {"status": token.status}))
        elif token.reachable:
            found.append(Finding("token", WARN, f"Plex at {inputs.url} answered HTTP "
                                 f"{token.status}", {"status": token.status}))
        else:
            found.append(Finding("token", WARN, f"Plex at {inputs.url} does not answer: the "
                                 "token cannot be checked now", {"status": None}))
    else:
        running = hostchecks.plex_processes() > 0 or None
        found.append(Finding("token", INFO, "plex.url/plex.token not set: no server checks, no "
                             "read-back after an apply"))
    found.append(_running(running, inputs))
    return found


def _running(running: bool | None, inputs: DoctorInputs) -> Finding:
    if not running:
        text = "Plex is not running" if running is False else \
            "no running Plex seen on this machine"
        return Finding("plex_running", OK, text, {"running": running})
    if inputs.mode == "offline" and not inputs.stop_command:
        return Finding("plex_running", WARN, "Plex is running and apply.stop_command is not "
                       "set: an offline apply will skip its window", {"running": True})
    how = {"offline": "an apply stops it first (apply.stop_command)",
           "live": "live mode writes while it runs"}.get(inputs.mode, f"mode {inputs.mode}")
    return Finding("plex_running", INFO, f"Plex is running; {how}", {"running": True})
