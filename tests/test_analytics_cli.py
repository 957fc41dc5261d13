"""plexfm stats and plexfm export on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from daemon.cli import main
from daemon.store.engine import open_store
from tests.environment import plexfm_only
from tests.test_analytics import PLAYS, fill


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plexfm_only(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", "k" * 32)
    monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
    monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PLEXFM_ANALYTICS_TIMEZONE", "Europe/Berlin")
    engine = open_store(f"sqlite:///{tmp_path / 'data' / 'plexfm.db'}")
    fill(engine)
    engine.dispose()
    return tmp_path


def test_stats_json_prints_the_aggregates(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--json", "--top", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["timezone"] == "Europe/Berlin"
    assert report["summary"]["plays"] == 10
    assert [r["genre"] for r in report["genres"]["overall"]] == ["jazz", "hip hop", "rock"]
    assert len(report["top"]["artists"]) == 3


def test_stats_year_and_range(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--json", "--year", "2021"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["plays"] == 7
    assert main(["stats", "--json", "--from", "2021-10-31", "--to", "2022-01-01"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["plays"] == 4


def test_stats_text(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "plays:      10 on 8 days" in out
    assert "jazz 44.4%" in out
    assert "longest 2 days" in out


@pytest.mark.parametrize("argv", [["stats", "--from", "yesterday"],
                                  ["stats", "--year", "2021", "--from", "2021-01-01"],
                                  ["export", "--format", "xlsx", "out.xlsx"]])
def test_bad_options_exit_2(env: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


def test_stats_year_with_to_is_a_usage_error(env: Path) -> None:
    assert main(["stats", "--year", "2021", "--to", "2021-05-01"]) == 2


def test_export_parquet_and_since(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--format", "parquet", "plays.parquet"]) == 0
    assert "wrote 11 plays" in capsys.readouterr().out
    assert pq.read_table(env / "plays.parquet").num_rows == len(PLAYS)
    assert main(["export", "--format", "ndjson", "--since", "2022-01-01", "new.ndjson"]) == 0
    assert len((env / "new.ndjson").read_text().splitlines()) == 3


def test_export_into_a_missing_directory_fails_with_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--format", "csv", str(env / "nowhere" / "plays.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("plexfm: cannot write")
    assert err.count("\n") == 1
