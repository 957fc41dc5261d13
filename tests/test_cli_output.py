"""What the command line says: help, option errors, stats over many years, export to stdout
and formats from file names, plurals."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from daemon.cli import build_parser, main
from daemon.logs import local_time, plural
from daemon.scrobble import Scrobble
from daemon.store.engine import open_store
from daemon.store.status import format_status
from tests.environment import plexfm_only
from tests.test_analytics import PLAYS, fill, utc


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plexfm_only(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", "k" * 32)
    monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
    monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PLEXFM_ANALYTICS_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("PLEXFM_LOG_LEVEL", "WARNING")
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'plexfm.db'}")
    # PLAYS (2021 and 2022 in Berlin) and one play in each of 2012..2019: ten years
    fill(engine, [*PLAYS, *(Scrobble(utc(f"{year}-05-01T12:00:00"), "Rocker", "K1", "")
                            for year in range(2012, 2020))])
    engine.dispose()
    return tmp_path


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_has_a_description_and_the_top_help_lists_them(
    capsys: pytest.CaptureFixture[str]
) -> None:
    commands = _subcommands()
    assert {"init", "search", "resolve", "matches", "export"} <= set(commands)
    for name, sub in commands.items():
        assert sub.description, f"plexfm {name} --help has no description"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    top = capsys.readouterr().out
    for name in commands:
        assert f"\n    {name} " in top, name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["library", "--help"])
    assert "Mirror the Plex music library" in capsys.readouterr().out


def test_a_bad_date_is_named_as_a_date(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["stats", "--from", "yesterday"], ["stats", "--to", "2021-13-01"],
                 ["export", "--since", "2021-1-1", "x.csv"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
        err = capsys.readouterr().err
        assert f"invalid date '{argv[2]}' (expected YYYY-MM-DD)" in err
        assert "iso_date" not in err


def test_a_reversed_range_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--from", "2022-01-01", "--to", "2021-01-01"]) == 2
    err = capsys.readouterr().err
    assert err == "plexfm: --from 2022-01-01 is after --to 2021-01-01\n"
    with pytest.raises(SystemExit) as caught:
        main(["stats", "--top", "0"])
    assert caught.value.code == 2


def test_text_stats_show_every_year(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    years = [line.split(":")[0] for line in out.splitlines() if line[:4].isdigit()]
    assert years == [str(y) for y in (*range(2012, 2020), 2021, 2022)]
    assert "2013:       1 play, 0 new artists" in out


def test_export_to_stdout(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--format", "ndjson", "--since", "2022-01-01", "-"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["title"] for r in rows] == ["J2", "J2", "B1"]
    assert err == "wrote 3 plays to stdout (ndjson)\n"
    assert not (env / "-").exists()
    assert main(["export", "--format", "csv", "-"]) == 0
    assert capsys.readouterr().out.startswith("scrobble_id,user,played_at")


@pytest.mark.parametrize(("name", "fmt"), [("plays.parquet", "parquet"), ("plays.CSV", "csv"),
                                           ("plays.ndjson", "ndjson"), ("plays.jsonl", "ndjson")])
def test_the_format_follows_the_file_name(
    env: Path, capsys: pytest.CaptureFixture[str], name: str, fmt: str
) -> None:
    assert main(["export", name]) == 0
    assert f"to {name} ({fmt})" in capsys.readouterr().out
    if fmt == "parquet":
        assert pq.read_table(env / name).num_rows == len(PLAYS) + 8
    elif fmt == "ndjson":
        assert json.loads((env / name).read_text().splitlines()[0])["user"] == "alice"
    else:
        assert (env / name).read_text().startswith("scrobble_id,")


@pytest.mark.parametrize(("argv", "says"), [
    (["export", "plays.txt"], "give --format csv, parquet or ndjson"),
    (["export", "-"], "give --format csv or --format ndjson to write to stdout"),
    (["export", "--format", "parquet", "-"], "Parquet cannot go to stdout"),
])
def test_export_formats_it_cannot_write(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1
    assert not (env / "plays.txt").exists()


def test_an_export_to_a_closed_stdout_ends_quietly(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Closed(io.BytesIO):
        def write(self, data: Any) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    class Stdout(io.StringIO):
        buffer = Closed()

    monkeypatch.setattr("sys.stdout", Stdout())
    assert main(["export", "--format", "csv", "-"]) == 0
    assert capsys.readouterr().err == ""


def test_plural_and_times() -> None:
    assert [plural(n, "track") for n in (0, 1, 2, 40_413)] == [
        "0 tracks", "1 track", "2 tracks", "40,413 tracks"]
    assert plural(1, "match", "matches") == "1 match"
    assert plural(3, "match", "matches") == "3 matches"
    from zoneinfo import ZoneInfo

    assert local_time(1796471794, ZoneInfo("Europe/Berlin")) == "2026-12-05 12:56:34+01:00"


def test_status_text_counts_in_words() -> None:
    status = {"scrobbles": 1, "first_scrobble": None, "last_scrobble": None,
              "backfill_complete": True, "last_pull_at": None, "library_tracks": 1,
              "matched": 1, "matched_auto": 1, "queued": 0, "queue_skipped": 0,
              "not_in_library": 0,
              "applied_plays": 1, "already_in_plex": 0, "pending_plays": 0,
              "last_apply": None, "jobs": {}}
    text = format_status(status)
    assert "library:    1 track\n" in text
    assert "plex:       1 play written" in text
