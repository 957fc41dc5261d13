"""The SQLAlchemy engine of our store: SQLite in WAL mode with a busy timeout.

pysqlite's own transaction handling is switched off and SQLAlchemy emits BEGIN itself (the
recipe from SQLAlchemy's SQLite dialect docs), so a transaction covers reads too and a
connection can ask for `BEGIN IMMEDIATE` with `.execution_options(sqlite_begin="IMMEDIATE")`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from daemon.errors import StoreError
from daemon.store.migrations import migrate

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()


def _on_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction. BEGIN IMMEDIATE takes the write lock up front (waiting up to the
    busy timeout): a deferred transaction that reads and then writes fails at once with
    "database is locked" in WAL mode when another writer committed meanwhile."""
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        yield conn


BULK_CACHE_KIB = 32768
DEFAULT_CACHE_KIB = 2000


@contextmanager
def bulk_cache(conn: Connection) -> Iterator[Connection]:
    """A 32 MiB page cache for one bulk operation (1M-row ledger writes and joins touch large
    B-trees: with SQLite's 2 MiB default, a 1M-row ledger insert ran ten times slower), given
    back afterwards: every pooled connection keeping 32 MiB would cost the daemon ~100 MB."""
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield conn
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = -{DEFAULT_CACHE_KIB}")
        conn.exec_driver_sql("PRAGMA shrink_memory")


def create_store_engine(url: str) -> Engine:
    """An engine for `url` (no migration); SQLite gets WAL, busy timeout and real BEGINs."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store.url is not a valid SQLAlchemy URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
    return engine


def open_store(url: str) -> Engine:
    """Open (creating if needed) and migrate the store; raise StoreError with one line if not."""
    engine = create_store_engine(url)
    try:
        applied = migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open the store at {url}: {exc.__class__.__name__}: "
                         f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}"
                         ) from exc
    if applied:
        log.info("store migrated to version %s", applied[-1])
    return engine
