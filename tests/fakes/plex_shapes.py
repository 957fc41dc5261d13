"""The known shapes of Plex's library database, for the fixture generator (`plex_db`).

Each shape is a real era of PMS, with its evidence (docs/plex-fidelity.md has the links):

* ``2020``: schema_migrations up to 20200224131300 (a real PMS database of that version is in
  a public repository); local-time text timestamps; the non-ICU search triggers (their SQL is
  the rollback_sql of migration 500000000001.* in Plex's own ladder) and
  ``index_title_sort_naturalsort ... COLLATE naturalsort`` (rollback of 500000000000, created by
  20180501000000); ``accounts`` with ``hashed_password``/``salt``; no ``view_type``; settings
  without ``last_rated_at`` like the 2019 export [U for 2020].
* ``2021``: PMS 1.23-1.25 (forum DDL of 1.23.5): text timestamps, the ICU triggers (then
  unconditional ``BEFORE UPDATE``) and ``index_title_sort_icu``; hashed_password; no view_type.
* ``2023``: after the 2022 epoch-integer migrations (202204252330 settings, 202205091600
  views), before 202504161541 dropped hashed_password; no view_type.
* ``current``: the 2025+ DDL of plex-schema.sql (view_type, no hashed_password), ladder up to
  202507311200.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LADDER_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "plex" / "schema_migrations.txt"
ICU_MIGRATION_PREFIX = "50000000000"  # 500000000000* / 500000000001*: the 2021 ICU switch

# Plex's own SQL, verbatim: rollback_sql of migrations 500000000000 and 500000000001.0xx.
NATURALSORT_INDEX_SQL = ("CREATE INDEX 'index_title_sort_naturalsort' ON 'metadata_items' "
                         "('title_sort' COLLATE {})")
NON_ICU_TRIGGERS = (
    "CREATE TRIGGER fts4_tag_titles_after_insert AFTER INSERT ON tags BEGIN INSERT INTO "
    "fts4_tag_titles(docid, tag) VALUES(new.rowid, new.tag); END",
    "CREATE TRIGGER fts4_tag_titles_after_update AFTER UPDATE ON tags BEGIN INSERT INTO "
    "fts4_tag_titles(docid, tag) VALUES(new.rowid, new.tag); END",
    "CREATE TRIGGER fts4_tag_titles_before_delete BEFORE DELETE ON tags BEGIN DELETE FROM "
    "fts4_tag_titles WHERE docid=old.rowid; END",
    "CREATE TRIGGER fts4_tag_titles_before_update BEFORE UPDATE ON tags BEGIN DELETE FROM "
    "fts4_tag_titles WHERE docid=old.rowid; END",
    "CREATE TRIGGER fts4_metadata_titles_after_insert AFTER INSERT ON metadata_items BEGIN "
    "INSERT INTO fts4_metadata_titles(docid, title, title_sort, original_title) "
    "VALUES(new.rowid, new.title, new.title_sort, new.original_title); END",
    "CREATE TRIGGER fts4_metadata_titles_after_update AFTER UPDATE ON metadata_items BEGIN "
    "INSERT INTO fts4_metadata_titles(docid, title, title_sort, original_title) "
    "VALUES(new.rowid, new.title, new.title_sort, new.original_title); END",
    "CREATE TRIGGER fts4_metadata_titles_before_delete BEFORE DELETE ON metadata_items BEGIN "
    "DELETE FROM fts4_metadata_titles WHERE docid=old.rowid; END",
    "CREATE TRIGGER fts4_metadata_titles_before_update BEFORE UPDATE ON metadata_items BEGIN "
    "DELETE FROM fts4_metadata_titles WHERE docid=old.rowid; END",
)
# rollback_sql of 202504161541 (which dropped them): the accounts columns before 2025.
HASHED_PASSWORD_SQL = (
    "ALTER TABLE 'accounts' ADD 'salt' varchar(255)",
    "ALTER TABLE 'accounts' ADD 'hashed_password' varchar(255)",
    "CREATE INDEX 'index_accounts_on_name' ON 'accounts' ('name')",
)


@dataclass(frozen=True)
class Shape:
    """One era of Plex's library database, as the fixture builds it."""

    name: str
    last_migration: str  # the newest schema_migrations version of that era
    integer_timestamps: bool
    icu: bool  # ICU triggers + index_title_sort_icu; else non-ICU triggers + naturalsort
    unconditional_icu_updates: bool  # pre-1.43 "BEFORE UPDATE ON metadata_items" triggers
    view_type: bool
    hashed_password: bool
    last_rated_at: bool


SHAPES = {
    "2020": Shape("2020", "20200224131300", integer_timestamps=False, icu=False,
                  unconditional_icu_updates=False, view_type=False, hashed_password=True,
                  last_rated_at=False),
    "2021": Shape("2021", "20211208163900", integer_timestamps=False, icu=True,
                  unconditional_icu_updates=True, view_type=False, hashed_password=True,
                  last_rated_at=True),
    "2023": Shape("2023", "202402260803", integer_timestamps=True, icu=True,
                  unconditional_icu_updates=False, view_type=False, hashed_password=True,
                  last_rated_at=True),
    "current": Shape("current", "202507311200", integer_timestamps=True, icu=True,
                     unconditional_icu_updates=False, view_type=True, hashed_password=False,
                     last_rated_at=True),
}


def as_date(version: str) -> str | None:
    """A ladder version as 14 digits (YYYYMMDDhhmmss), None for the 5000... ICU steps."""
    base = version.split(".")[0]
    if base.startswith(ICU_MIGRATION_PREFIX):
        return None
    return base + "00" if len(base) == 12 else base


def migrations(shape: Shape) -> list[str]:
    """The schema_migrations versions a database of ``shape`` holds, in the ladder's order."""
    cutoff = as_date(shape.last_migration)
    assert cutoff is not None
    versions = []
    for line in LADDER_PATH.read_text(encoding="utf-8").splitlines():
        version = line.strip()
        if not version or version.startswith("#"):
            continue
        date = as_date(version)
        if (date is None and shape.icu) or (date is not None and date <= cutoff):
            versions.append(version)
    return versions
