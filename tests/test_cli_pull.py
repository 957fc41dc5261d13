"""`plexfm pull` as a person reads it: counts, plurals, progress and times in the log lines."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.scrobble import Scrobble
from tests.environment import plexfm_only
from tests.fakes.lastfm_server import DEFAULT_API_KEY, FakeLastfm

DAY = 86400


def _plays(start: int, count: int, step: int, tag: str) -> list[Scrobble]:
    return [Scrobble(start + i * step, f"Artist {i % 7}", f"{tag} {i}", "Album") for i in
            range(count)]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLastfm]:
    plexfm_only(monkeypatch)
    monkeypatch.chdir(tmp_path)
    server = FakeLastfm(seed=5)
    now = int(time.time())
    server.add_user("alice", _plays(now - 200 * DAY, 1_500, 3_600, "old"))
    with server:
        monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
        monkeypatch.setenv("PLEXFM_LASTFM_API_URL", server.url)
        monkeypatch.setenv("PLEXFM_LASTFM_REQUESTS_PER_SECOND", "500")
        monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
        yield server


def _progress_scrobbles(err: str) -> list[str]:
    """The scrobble counts of the progress log lines (stderr is not a terminal here)."""
    return re.findall(r"pages, ([\d,]+) scrobbles?,", err)


def test_the_result_and_the_progress_report_the_same_number(
    fake: FakeLastfm, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pull"]) == 0
    out, err = capsys.readouterr()
    assert "fetched 1,500 scrobbles, 1,500 new" in out
    assert _progress_scrobbles(err)[-1] == "1,500"
    # 1,200 new plays within the last days: the incremental pull needs two pages; page 1 is
    # counted once (it was counted twice: "fetched 2,200")
    now = int(time.time())
    fake.add_scrobbles("alice", _plays(now - 2 * DAY, 1_200, 60, "new"))
    assert main(["pull"]) == 0
    out, err = capsys.readouterr()
    assert "fetched 1,200 scrobbles, 1,200 new" in out
    assert _progress_scrobbles(err)[-1] == "1,200"


def test_plurals_and_times_in_the_pull_output(
    fake: FakeLastfm, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pull"]) == 0
    messages = capsys.readouterr().err
    assert re.search(r"history up to \d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d starts",
                     messages), messages
    assert not re.search(r"\b1[0-9]{9}\b", messages), messages  # no raw Unix time
    assert main(["pull"]) == 0  # nothing new: one request
    out = capsys.readouterr().out
    assert "fetched 0 scrobbles, 0 new, in 1 request;" in out


def test_the_terminal_bar_ends_on_the_result_number() -> None:
    import io

    from daemon.service.progress import TerminalProgress

    stream = io.StringIO()
    bar = TerminalProgress("pull", stream)
    bar.expect(3)
    bar.advance(1, 1_000)
    bar.advance(1, 1_000)  # a page fetched again: seen twice, stored once
    bar.close(1_412)
    last = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "2/2" in last
    assert "1,412 scrobbles" in last
