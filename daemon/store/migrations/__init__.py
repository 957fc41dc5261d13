"""Versioned schema migrations, applied in order at start, each in its own transaction.

One module per migration, ``vNNNN_<what>.py`` in this package, with ``NAME`` and ``APPLY``;
they are found by their file names, so adding one touches no other file.

A migration is never edited once released: a later release adds a new one. That way an
older store always opens under a newer plexfm without losing data (tests/test_store.py
builds a store at every historical version and upgrades it).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time

from sqlalchemy import Connection, Engine

from daemon.store.migrations.base import Migration

MIGRATIONS_TABLE = "schema_migrations"


_MODULE_NAME = re.compile(r"v(\d{4})_\w+")


def _discover() -> tuple[Migration, ...]:
    found: dict[int, Migration] = {}
    for info in pkgutil.iter_modules(__path__):
        matched = _MODULE_NAME.fullmatch(info.name)
        if not matched:
            continue
        version = int(matched.group(1))
        if version in found:
            raise RuntimeError(f"two store migrations with version {version}")
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[version] = Migration(version, module.NAME, module.APPLY)
    return tuple(found[v] for v in sorted(found))


MIGRATIONS: tuple[Migration, ...] = _discover()


def applied_versions(conn: Connection) -> set[int]:
    """The versions already applied to this database (empty for a new one)."""
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    return {int(v) for (v,) in conn.exec_driver_sql(f"SELECT version FROM {MIGRATIONS_TABLE}")}


def migrate(engine: Engine, *, target: int | None = None) -> list[int]:
    """Apply every migration not applied yet, in version order, up to `target` (default: all);
    return the versions applied. (Set-based rather than "above the highest": branches that
    each added a migration can land in any order.)"""
    applied: list[int] = []
    for migration in sorted(MIGRATIONS, key=lambda m: m.version):
        if target is not None and migration.version > target:
            break
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            if migration.version in applied_versions(conn):
                continue
            migration.apply(conn)
            conn.exec_driver_sql(
                f"INSERT INTO {MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time())),
            )
            applied.append(migration.version)
    return applied
