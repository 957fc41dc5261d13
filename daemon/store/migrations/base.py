"""What a migration is: a version, a name and a function of a connection in a transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def sql(*statements: str) -> Callable[[Connection], None]:
    """A migration made of SQL statements run in order."""
    def run(conn: Connection) -> None:
        for statement in statements:
            conn.exec_driver_sql(statement)

    return run
