"""Which shape of Plex database this is, and whether plexfm knows it well enough to write it.

`inspect` reads the facts that matter (on a read-only connection): the schema version (the
newest ``schema_migrations`` entry), the columns of the two tables plexfm writes, the
triggers and Plex-only collations, the timestamp convention, ``view_type`` and the accounts
columns. `write_problems` turns them into reasons not to write; `check_before_write` is what
the apply job calls before it touches anything.

Known-good range: plexfm writes only databases whose schema version lies between
`KNOWN_OLDEST` and `KNOWN_NEWEST`, the span for which public evidence shows the DDL of
``metadata_item_settings`` and ``metadata_item_views`` (listed in `EVIDENCE`, with links in
docs/plex-fidelity.md). Outside it the apply refuses with the same reason the doctor gives,
unless ``apply.allow_unknown_schema`` is set. Structural problems (a column plexfm writes is
missing, a trigger on a table it writes, mixed timestamps) are never overridable.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from daemon.errors import PlexError, PlexWriteError
from daemon.plex.readonly import ReadOnlyDatabase
from daemon.plex.timestamps import detect_timestamp_mode

SETTINGS, VIEWS = "metadata_item_settings", "metadata_item_views"
REQUIRED_TABLES = ("schema_migrations", "library_sections", "metadata_items", SETTINGS, VIEWS,
                   "accounts")
SETTINGS_WRITTEN = ("account_id", "guid", "view_count", "last_viewed_at", "created_at",
                    "updated_at")
VIEWS_WRITTEN = ("account_id", "guid", "metadata_type", "library_section_id",
                 "grandparent_title", "parent_index", "parent_title", "index", "title",
                 "thumb_url", "viewed_at", "grandparent_guid", "originally_available_at",
                 "device_id")
KNOWN_OLDEST = 20200224131300
KNOWN_NEWEST = 20250731120000
EVIDENCE = (
    (20200224131300, "a real PMS database of this version in a public repository"),
    (20211208163900, "PMS 1.23.5 DDL of both tables (Plex forum t/723488, 2021)"),
    (20220509160000, "migrations 202204252330/202205091600: timestamps become integers"),
    (20250416154100, "migration 202504161541 drops accounts.hashed_password"),
    (20250731120000, "the newest ladder entry with a whole-database DDL (2025)"),
)
ICU_MARKERS = ("collating", "icu_root")


@dataclass(frozen=True)
class SchemaFacts:
    """What `inspect` found; plain values only."""

    tables: frozenset[str]
    migrations: int = 0
    version: int | None = None  # newest schema_migrations entry as YYYYMMDDhhmmss
    settings_columns: frozenset[str] = frozenset()
    views_columns: frozenset[str] = frozenset()
    accounts_columns: frozenset[str] = frozenset()
    triggers: tuple[tuple[str, str], ...] = ()  # (name, table)
    icu: bool = False  # tokenize=collating / COLLATE icu_root objects
    naturalsort: bool = False  # COLLATE naturalsort objects (before the 2021 ICU switch)
    timestamps: str = ""  # "integer", "legacy-string", or why it is unclear
    timestamps_ok: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def view_type(self) -> bool:
        return "view_type" in self.views_columns

    @property
    def hashed_passwords(self) -> bool:
        return "hashed_password" in self.accounts_columns

    @property
    def search_triggers(self) -> str:
        """Which search triggers Plex keeps: "icu", "non-icu (naturalsort)" or "none"."""
        if self.icu:
            return "icu"
        if self.naturalsort or any(n.startswith("fts4_") for n, _ in self.triggers):
            return "non-icu (naturalsort)"
        return "none"


def version_of(text: str) -> int | None:
    """A ``schema_migrations.version`` as YYYYMMDDhhmmss; None for the non-date entries
    (``500000000000*`` ICU steps, adapters). 12-digit versions (2021 on) are minutes."""
    base = str(text).strip().split(".")[0]
    if not base.isdigit() or len(base) not in (12, 14):
        return None
    digits = base + "00" if len(base) == 12 else base
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    if not (2008 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return int(digits)


def _columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    return frozenset(str(r[1]) for r in conn.execute(f'PRAGMA table_info("{table}")'))


def inspect(conn: sqlite3.Connection) -> SchemaFacts:
    """The facts of the database on ``conn`` (reads only)."""
    master = conn.execute("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master"
                          ).fetchall()
    tables = frozenset(str(name) for kind, name, _, _ in master if kind == "table")
    if "schema_migrations" not in tables or SETTINGS not in tables:
        return SchemaFacts(tables=tables)
    versions = [str(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")]
    dated = [v for v in map(version_of, versions) if v is not None]
    sql = " ".join(str(text).lower() for *_, text in master)
    triggers = tuple(sorted((str(name), str(table)) for kind, name, table, _ in master
                            if kind == "trigger"))
    try:
        timestamps, ok = detect_timestamp_mode(conn), True
    except (PlexWriteError, sqlite3.Error) as exc:
        timestamps, ok = str(exc), False
    return SchemaFacts(
        tables=tables, migrations=len(versions), version=max(dated) if dated else None,
        settings_columns=_columns(conn, SETTINGS),
        views_columns=_columns(conn, VIEWS) if VIEWS in tables else frozenset(),
        accounts_columns=_columns(conn, "accounts") if "accounts" in tables else frozenset(),
        triggers=triggers, icu=any(marker in sql for marker in ICU_MARKERS),
        naturalsort="naturalsort" in sql, timestamps=timestamps, timestamps_ok=ok)


def write_problems(facts: SchemaFacts, *, allow_unknown: bool = False) -> list[str]:
    """Why plexfm must not write this database (empty: it may). With ``allow_unknown`` a
    schema version outside the known-good range is no reason (a structural problem still is)."""
    missing = [t for t in REQUIRED_TABLES if t not in facts.tables]
    if missing:
        return [f"not a Plex library database (no table {missing[0]})"]
    problems = []
    if facts.version is None:
        problems.append("unknown schema version: schema_migrations has no dated entry")
    elif not KNOWN_OLDEST <= facts.version <= KNOWN_NEWEST:
        side = "newer" if facts.version > KNOWN_NEWEST else "older"
        problems.append(f"schema version {facts.version} is {side} than the known-good range "
                        f"{KNOWN_OLDEST}-{KNOWN_NEWEST}")
    if allow_unknown:
        problems = []
    for table, columns, wanted in ((SETTINGS, facts.settings_columns, SETTINGS_WRITTEN),
                                   (VIEWS, facts.views_columns, VIEWS_WRITTEN)):
        absent = [c for c in wanted if c not in columns]
        if absent:
            problems.append(f"{table} has no column {absent[0]}")
    on_ours = [name for name, table in facts.triggers if table in (SETTINGS, VIEWS)]
    if on_ours:
        problems.append(f"unknown trigger {on_ours[0]} on a table plexfm writes")
    if not facts.timestamps_ok:
        problems.append(facts.timestamps)
    return problems


def read_facts(path: str | Path, *, busy_timeout_ms: int = 15000) -> SchemaFacts:
    """`inspect` the database file, strictly read-only (`ReadOnlyDatabase`)."""
    return ReadOnlyDatabase(path, busy_timeout_ms=busy_timeout_ms).read(inspect)


def check_before_write(path: str | Path, *, allow_unknown: bool = False,
                       busy_timeout_ms: int = 15000) -> SchemaFacts:
    """The apply job's gate: `PlexWriteError` with the doctor's reason when plexfm must not
    write this database; the facts otherwise."""
    try:
        facts = read_facts(path, busy_timeout_ms=busy_timeout_ms)
    except PlexError as exc:
        raise PlexWriteError(f"refusing to write Plex's database: {exc}") from None
    problems = write_problems(facts, allow_unknown=allow_unknown)
    if problems:
        structural = write_problems(facts, allow_unknown=True)
        hint = "" if problems[0] in structural else \
            " (apply.allow_unknown_schema: true writes anyway)"
        raise PlexWriteError(f"refusing to write Plex's database: {problems[0]}{hint}; "
                             "run 'plexfm doctor' for details")
    return facts
