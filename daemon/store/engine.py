"""The SQLAlchemy engine of our store: SQLite in WAL mode with a busy timeout.

A store file's engine connects with `mode=rw` and checks the file's identity before handing
out any connection (daemon.store.storefile): a deleted or replaced store is refused, never
recreated. Opening runs the migrations only when some are missing, so a command that reads
(`plexfm status`) takes no write lock while the service writes.

pysqlite's own transaction handling is switched off and SQLAlchemy emits BEGIN itself (the
recipe from SQLAlchemy's SQLite dialect docs), so a transaction covers reads too and a
connection can ask for `BEGIN IMMEDIATE` with `.execution_options(sqlite_begin="IMMEDIATE")`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from daemon.errors import StoreError
from daemon.store.migrations import MIGRATIONS, MIGRATIONS_TABLE, migrate
from daemon.store.storefile import FileIdentity, StoreFile

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()


def _switch_to_wal(cur: sqlite3.Cursor) -> None:
    """PRAGMA journal_mode = WAL, waiting for the lock as long as the busy timeout would.

    The switch needs the file to itself, and SQLite answers "database is locked" at once,
    without its busy handler, while another connection holds the write lock (another process
    creating or migrating the same new store: `plexfm status` beside a first `plexfm run`)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or \
                    time.monotonic() + pause > deadline:
                raise
        log.debug("the store is locked while switching to WAL; trying again in %s s", pause)
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _on_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


@contextmanager
def write(engine: Engine, *, busy_timeout_ms: int | None = None) -> Iterator[Connection]:
    """A write transaction. BEGIN IMMEDIATE takes the write lock up front (waiting up to the
    busy timeout): a deferred transaction that reads and then writes fails at once with
    "database is locked" in WAL mode when another writer committed meanwhile.

    `busy_timeout_ms`: wait at most this long for the lock, instead of BUSY_TIMEOUT_MS."""
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
        raw = conn.connection.dbapi_connection if busy_timeout_ms is not None else None
        if isinstance(raw, sqlite3.Connection):
            raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms or 0)}")
        try:
            with conn.begin():
                yield conn
        finally:
            if isinstance(raw, sqlite3.Connection):
                raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


BULK_CACHE_KIB = 32768
DEFAULT_CACHE_KIB = 2000
SORT_CACHE_KIB = 2000
"""The page cache while a GROUP BY sorts and while indexes are built: SQLite sizes its
sorter's in-memory runs by it, and 1M rows sort faster in 2 MiB runs merged than in 32 MiB
ones (the fold's GROUP BY 1.3 s instead of 1.85 s CPU, the map's index 0.45 s instead of 0.8 s)."""


@contextmanager
def page_cache(conn: Connection, kib: int) -> Iterator[Connection]:
    """``kib`` KiB of page cache for the statements inside, then the size it had before."""
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or -DEFAULT_CACHE_KIB)
    conn.exec_driver_sql(f"PRAGMA cache_size = -{kib}")
    try:
        yield conn
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


@contextmanager
def bulk_cache(conn: Connection) -> Iterator[Connection]:
    """A 32 MiB page cache for one bulk operation (1M-row ledger writes and joins touch large
    B-trees: with SQLite's 2 MiB default, a 1M-row ledger insert ran ten times slower), given
    back afterwards: every pooled connection keeping 32 MiB would cost the daemon ~100 MB."""
    try:
        with page_cache(conn, BULK_CACHE_KIB):
            yield conn
    finally:
        conn.exec_driver_sql("PRAGMA shrink_memory")


def driver_cursor(conn: Connection, sql: str,
                  params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
    """The sqlite3 module's own cursor for ``sql`` on ``conn``: 1M rows fetched with no
    SQLAlchemy Row object each."""
    return conn.connection.driver_connection.execute(sql, params)  # type: ignore[union-attr]


def set_aside(conn: Connection, table: str, names: Sequence[str] | None = None) -> list[str]:
    """Drop ``table``'s explicit indexes and triggers (those named in ``names``, or every
    explicit index when None) for a bulk write, in the caller's transaction; return their DDL,
    in name order, to be run again before the commit, so that no other connection ever sees
    the table without them."""
    if names is None:
        rows = conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL ORDER BY name", (table,)).all()
    else:
        rows = conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ?"
            f" AND name IN ({', '.join('?' for _ in names)}) ORDER BY name",
            (table, *names)).all()
    for kind, name, _sql in rows:
        conn.exec_driver_sql(f'DROP {"TRIGGER" if kind == "trigger" else "INDEX"} "{name}"')
    return [str(sql) for _kind, _name, sql in rows]


def put_back(conn: Connection, ddl: Sequence[str]) -> None:
    """Run again the DDL `set_aside` returned, in the same transaction; its indexes are built
    by one sort each, in the sorter's fast run size (`SORT_CACHE_KIB`)."""
    with page_cache(conn, SORT_CACHE_KIB):
        for statement in ddl:
            conn.exec_driver_sql(statement)


_FILES: weakref.WeakKeyDictionary[Engine, StoreFile] = weakref.WeakKeyDictionary()


def store_file(engine: Engine) -> StoreFile | None:
    """The file `engine` was opened on (None for a database that is no plain SQLite file)."""
    return _FILES.get(engine)


def per_thread_database(engine: Engine) -> bool:
    """Whether each thread's connection sees a database of its own (an in-memory store without
    a shared cache): work on the store must then stay in one thread."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return False
    memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    return memory and url.query.get("cache") != "shared"


def store_problem(engine: Engine) -> str | None:
    """Why the store must not be used (its file deleted or replaced), or None."""
    guarded = _FILES.get(engine)
    return guarded.problem() if guarded is not None else None


def check_store(engine: Engine) -> None:
    """Raise StoreError when the store file was deleted or replaced since it was opened."""
    guarded = _FILES.get(engine)
    if guarded is not None:
        guarded.check()


def _sqlite_file(parsed: URL) -> Path | None:
    """The file of a plain SQLite URL; None for memory and for URLs that are SQLite URIs."""
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri") or parsed.query.get("mode") == "memory":
        return None
    return Path(os.path.abspath(Path(parsed.database).expanduser()))


def _guard(engine: Engine, guarded: StoreFile) -> None:
    def connect_existing(_dialect: Any, _record: Any, cargs: list[Any],
                         cparams: dict[str, Any]) -> None:
        guarded.check()
        cargs[:] = [guarded.uri]
        cparams["uri"] = True

    def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        guarded.check(dbapi_conn if isinstance(dbapi_conn, sqlite3.Connection) else None)

    event.listen(engine, "do_connect", connect_existing)
    event.listen(engine.pool, "checkout", checkout)
    _FILES[engine] = guarded


def create_store_engine(url: str, *, create: bool = True, expect: FileIdentity | None = None,
                        rescue: bool = True) -> Engine:
    """An engine for `url` (no migration); SQLite gets WAL, busy timeout and real BEGINs.

    `create`: make the file when missing (else StoreError); `expect`: the identity the file
    must have (a worker opens the very store its service opened, or nothing); `rescue`: save
    the contents of the file when it is found deleted or replaced (the service does, once)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store.url is not a valid SQLAlchemy URL: {exc}") from exc
    path = _sqlite_file(parsed)
    if path is not None:
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            sqlite3.connect(path).close()  # an empty file: a new store
        if not path.exists():
            raise StoreError(f"the store file {path} does not exist")
        if not path.is_file():
            raise StoreError(f"the store file {path} is not a file")
        if expect is not None and FileIdentity.of(path) != expect:
            raise StoreError(f"the store file {path} was replaced by another file")
    engine = create_engine(parsed)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
    if path is not None:
        _guard(engine, StoreFile(path, expect, rescue=rescue))
    return engine


def _missing_migrations(engine: Engine) -> bool:
    """True when some migration is not applied yet (read only: takes no write lock)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(MIGRATIONS_TABLE):
            return True
        applied = {int(v) for (v,) in
                   conn.exec_driver_sql(f"SELECT version FROM {MIGRATIONS_TABLE}")}
    return any(m.version not in applied for m in MIGRATIONS)


def open_store(url: str) -> Engine:
    """Open (creating if needed) and migrate the store; raise StoreError with one line if not."""
    engine = create_store_engine(url)
    try:
        applied = migrate(engine) if _missing_migrations(engine) else []
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open the store at {url}: {exc.__class__.__name__}: "
                         f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}"
                         ) from exc
    if applied:
        log.info("store migrated to version %s", applied[-1])
    return engine


def open_existing_store(url: str, expect: FileIdentity | None = None) -> Engine:
    """Open a store that exists and is migrated, creating and migrating nothing (a worker
    process uses its service's store, or none)."""
    engine = create_store_engine(url, create=False, expect=expect, rescue=False)
    try:
        missing = _missing_migrations(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open the store at {url}: {exc.__class__.__name__}") from exc
    if missing:
        engine.dispose()
        raise StoreError(f"the store at {url} is not migrated: run plexfm once to migrate it")
    return engine
