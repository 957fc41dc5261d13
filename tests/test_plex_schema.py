"""Known shapes of Plex's database, the known-good range, and the apply's refusal outside it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.errors import PlexWriteError
from daemon.plex import schema
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import Library, generate_library
from tests.fakes.plex_shapes import SHAPES
from tests.test_apply import T0, TRACKS, applier, dump, scrobble, setup

UNEXPECTED = pytest.mark.reliability("input", "unexpected Plex databases")
SHAPE_FACTS = {  # shape -> (version, timestamps, search triggers, view_type, hashed_password)
    "2020": (20200224131300, "legacy-string", "non-icu (naturalsort)", False, True),
    "2021": (20211208163900, "legacy-string", "icu", False, True),
    "2023": (20240226080300, "integer", "icu", False, True),
    "current": (20250731120000, "integer", "icu", True, False),
}


@pytest.fixture(scope="module")
def library() -> Library:
    return generate_library(60, seed=4)


@pytest.fixture(scope="module")
def shapes(library: Library, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shapes")
    return {name: build_plex_db(root / f"{name}.db", library, shape=name,
                                native_plays=[(library.tracks[0].id, 1, T0)]).path
            for name in SHAPES}


def copy(path: Path, tmp_path: Path) -> Path:
    target = tmp_path / path.name
    shutil.copyfile(path, target)
    return target


def change(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.mark.parametrize("name", list(SHAPE_FACTS))
def test_each_known_shape_is_recognised_and_writable(shapes: dict[str, Path], name: str) -> None:
    facts = schema.read_facts(shapes[name])
    version, timestamps, search, view_type, hashed = SHAPE_FACTS[name]
    assert (facts.version, facts.timestamps, facts.search_triggers, facts.view_type,
            facts.hashed_passwords) == (version, timestamps, search, view_type, hashed)
    assert facts.naturalsort == (name == "2020")
    assert schema.write_problems(facts) == []
    assert not [p for p in shapes[name].parent.iterdir() if p.name.endswith(("-wal", "-shm"))]


@pytest.mark.parametrize("name", list(SHAPE_FACTS))
def test_each_shape_takes_a_write_with_stock_sqlite(shapes: dict[str, Path], library: Library,
                                                    name: str, tmp_path: Path) -> None:
    db = copy(shapes[name], tmp_path)
    track = library.tracks[1]
    result = PlexDatabaseWriter(db, clock=lambda: T0 + 50).apply(
        [PlayToWrite(1, track.id, T0 + 10)], [], backup_dir=None)
    assert len(result.inserted) == 1
    assert result.timestamp_mode == SHAPE_FACTS[name][1]


@pytest.mark.parametrize(("text", "expected"), [
    ("20200224131300", 20200224131300), ("202507311200", 20250731120000),
    ("202204252330.011", 20220425233000), ("500000000000", None), ("500000000001.231", None),
    ("pg_adapter_1.0.0", None), ("", None), ("20201399000000", None),
])
def test_schema_versions_are_read_as_dates(text: str, expected: int | None) -> None:
    assert schema.version_of(text) == expected


def test_the_newest_entry_is_the_version_not_the_last_row(shapes: dict[str, Path],
                                                          tmp_path: Path) -> None:
    db = copy(shapes["current"], tmp_path)  # Plex's ladder is not in date order
    change(db, "INSERT INTO schema_migrations(version) VALUES ('20170101000000')")
    assert schema.read_facts(db).version == 20250731120000


@UNEXPECTED
@pytest.mark.parametrize(("version", "side"), [("202601011200", "newer"),
                                               ("20190616032400", "older")])
def test_outside_the_known_range_is_refused_unless_allowed(shapes: dict[str, Path],
                                                           tmp_path: Path, version: str,
                                                           side: str) -> None:
    db = copy(shapes["current"], tmp_path)
    if side == "older":
        change(db, f"DELETE FROM schema_migrations WHERE version > '{version}' "
               "OR version LIKE '5000%'")
    change(db, f"INSERT OR IGNORE INTO schema_migrations(version) VALUES ('{version}')")
    facts = schema.read_facts(db)
    assert schema.write_problems(facts) == [
        f"schema version {schema.version_of(version)} is {side} than the known-good range "
        f"{schema.KNOWN_OLDEST}-{schema.KNOWN_NEWEST}"]
    assert schema.write_problems(facts, allow_unknown=True) == []
    with pytest.raises(PlexWriteError, match="allow_unknown_schema: true writes anyway"):
        schema.check_before_write(db)
    assert schema.check_before_write(db, allow_unknown=True).version == facts.version


@UNEXPECTED
def test_structural_problems_are_never_overridable(library: Library, tmp_path: Path) -> None:
    db = build_plex_db(tmp_path / "plain.db", library, with_icu_traps=False).path  # ALTERable
    change(db, "ALTER TABLE metadata_item_views DROP COLUMN device_id",
           "CREATE TRIGGER audit AFTER INSERT ON metadata_item_settings BEGIN SELECT 1; END")
    problems = schema.write_problems(schema.read_facts(db), allow_unknown=True)
    assert problems == ["metadata_item_views has no column device_id",
                        "unknown trigger audit on a table plexfm writes"]
    with pytest.raises(PlexWriteError) as caught:
        schema.check_before_write(db, allow_unknown=True)
    assert "allow_unknown_schema" not in str(caught.value)


@UNEXPECTED
def test_mixed_timestamps_are_a_problem(shapes: dict[str, Path], tmp_path: Path) -> None:
    db = copy(shapes["current"], tmp_path)
    change(db, "UPDATE metadata_item_views SET viewed_at = '2020-01-01 10:00:00'")
    problems = schema.write_problems(schema.read_facts(db), allow_unknown=True)
    assert len(problems) == 1
    assert "viewed_at" in problems[0]


@UNEXPECTED
def test_not_plex_at_all(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    change(other, "CREATE TABLE scrobbles (id INTEGER)")
    facts = schema.read_facts(other)
    assert schema.write_problems(facts, allow_unknown=True) == [
        "not a Plex library database (no table schema_migrations)"]


@UNEXPECTED
def test_apply_refuses_an_unknown_schema_before_writing(tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    change(db, "INSERT INTO schema_migrations(version) VALUES ('203001011200')")
    before = dump(db)
    with pytest.raises(PlexWriteError) as caught:
        applier(engine, db, tmp_path).run(force_window=True)
    assert "schema version 20300101120000 is newer" in str(caught.value)
    assert dump(db) == before
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())
    counts = applier(engine, db, tmp_path, allow_unknown_schema=True).run(force_window=True)
    assert counts["added"] == len(TRACKS)
