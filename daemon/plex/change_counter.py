"""Plex's database-wide change counter (``changed_at``, not a time: docs/plex-fidelity.md).

Every settings row an apply creates or changes takes the next values above the highest one
found anywhere, as Plex advances it on each change; a database that never used it keeps the
column's DEFAULT 0.
"""

from __future__ import annotations

import sqlite3

# Where Plex's change counter shows: (table, column); those a database lacks are skipped.
CHANGE_COUNTERS = (("metadata_item_settings", "changed_at"), ("metadata_items", "changed_at"),
                   ("metadata_items", "resources_changed_at"),
                   ("library_sections", "changed_at"), ("library_sections", "content_changed_at"))


def highest_change(conn: sqlite3.Connection) -> int | None:
    """The highest value of Plex's change counter in the database; None when it never used
    it (all 0 or NULL), so new rows keep the column's DEFAULT 0."""
    highest = 0
    for table, column in CHANGE_COUNTERS:
        columns = {row[1] for row in conn.execute(f'PRAGMA main.table_info("{table}")')}
        if column in columns:
            value = conn.execute(f'SELECT max("{column}") FROM main."{table}"').fetchone()[0]
            if isinstance(value, int | float) and value > highest:
                highest = int(value)
    return highest or None
