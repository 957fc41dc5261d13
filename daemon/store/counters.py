"""Named integers kept in the store: fold positions, rule versions."""

from __future__ import annotations

from sqlalchemy import Connection


def get(conn: Connection, name: str, default: int = 0) -> int:
    """The counter's value, `default` when it was never set."""
    value = conn.exec_driver_sql("SELECT value FROM counters WHERE name = ?", (name,)).scalar()
    return default if value is None else int(value)


def put(conn: Connection, name: str, value: int) -> None:
    """Set the counter."""
    conn.exec_driver_sql(
        "INSERT INTO counters (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value)
    )
