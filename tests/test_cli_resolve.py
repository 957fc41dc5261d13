"""Resolving the queue from a terminal: names in every listing, `plexfm search`, and
`plexfm resolve` driven through stdin (decisions land in the store as the page's do)."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import matches
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import open_store
from tests.test_cli import _library_env, env

__all__ = ["env"]  # the fixture, shared with test_cli


def _scrobble(items: list[Scrobble]) -> None:
    engine = open_store(f"sqlite:///{Path('data') / 'plexfm.db'}")
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(items), "test")
    engine.dispose()


@pytest.fixture
def queue(env: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A mirrored library and four queued tracks with 5, 4, 3 and 2 plays (titles the
    library does not have exactly), plus one track matched exactly."""
    library, _db = _library_env(env, monkeypatch)
    queen = [t for t in library.tracks[:4]]
    items = []
    for plays, track in zip((5, 4, 3, 2), queen, strict=True):
        items += [Scrobble(1_600_000_000 + plays * 100 + i, "Queen", f"{track.title} (Demo)",
                           "Rarities") for i in range(plays)]
    items.append(Scrobble(1_600_009_000, "Queen", library.tracks[5].title,
                          library.album_of(library.tracks[5]).title))
    _scrobble(items)
    assert main(["library"]) == 0
    return library


def _listing(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["matches", "--json", *argv]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


def test_matches_text_names_the_library_tracks(
    queue: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["matches"]) == 0
    lines = capsys.readouterr().out.splitlines()
    matched = next(line for line in lines if line.startswith("auto"))
    track = queue.tracks[5]
    assert f"-> Queen / {track.title} / {queue.album_of(track).title} [{track.id}]" in matched
    waiting = next(line for line in lines if line.startswith("queued"))
    assert "; best: Queen / " in waiting  # the best suggestion by name, not a bare key


def test_search_ignores_case_and_accents(env: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _library_env(env, monkeypatch)
    assert main(["library"]) == 0
    capsys.readouterr()
    assert main(["search", "HOPPIPOLLA"]) == 0
    out = capsys.readouterr().out
    assert "Hoppípolla" in out
    assert out.split()[0] == "41"  # its rating key first, to paste into match --accept
    assert main(["search", "--json", "hoppipolla", "takk"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [t["title"] for t in found] == ["Hoppípolla"]
    assert set(found[0]) == {"rating_key", "artist", "title", "album", "year", "plays"}
    assert main(["search", "zzzz-nothing"]) == 0
    assert "no library track matches 'zzzz-nothing'" in capsys.readouterr().err


def test_resolve_refuses_without_a_terminal(
    queue: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("1\n"))
    capsys.readouterr()
    assert main(["resolve"]) == 2
    assert "--stdin" in capsys.readouterr().err
    assert {r["status"] for r in _listing(capsys, "--status", "manual")} == set()


def test_resolve_walks_the_queue_most_played_first(
    queue: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {r["title"]: r for r in _listing(capsys, "--status", "queued")}
    waiting = sorted(before.values(), key=lambda r: -r["plays"])
    assert [r["plays"] for r in waiting] == [5, 4, 3, 2]
    assert all(r["suggestions"] for r in waiting)
    hoppipolla = 41
    # accept suggestion 1; not in library; (a blank line is no answer) skip; quit
    monkeypatch.setattr("sys.stdin", io.StringIO("1\nn\n\n  s\nq\n"))
    started = time.time()
    assert main(["resolve", "--stdin"]) == 0
    out = capsys.readouterr().out
    assert "4 tracks wait in the queue" in out
    first = waiting[0]
    assert f"Queen / {first['title']} / Rarities  (5 plays)" in out
    assert f"why: {first['reason']}" in out
    best = first["suggestions"][0]["library_track"]
    assert f"1  Queen / {best['title']} / {best['album']} [{best['rating_key']}]" in out
    assert f"score {first['suggestions'][0]['score']}" in out
    assert "1 track matched, 1 not in the library, 1 skipped; 1 track still waits" in out
    after = {r["title"]: r for r in _listing(capsys)}
    assert after[first["title"]]["status"] == "manual"
    assert after[first["title"]]["rating_key"] == best["rating_key"]
    assert after[waiting[1]["title"]]["status"] == "not_in_library"
    assert after[waiting[2]["title"]]["status"] == "queued"  # skipped: no decision
    assert after[waiting[3]["title"]]["status"] == "queued"  # q quit before it
    engine = open_store(f"sqlite:///{Path('data') / 'plexfm.db'}")
    with engine.connect() as conn:
        until = conn.exec_driver_sql("SELECT until FROM queue_skips").scalars().all()
        history = conn.exec_driver_sql("SELECT origin, new_status FROM match_history WHERE"
                                       " origin = 'user'").all()
    engine.dispose()
    assert len(until) == 1  # hidden for 7 days, like the page's "skip for now"
    assert started + matches.SKIP_DAYS * 86400 - 5 <= until[0] <= time.time() + 7 * 86400
    assert sorted(history) == [("user", "manual"), ("user", "not_in_library")]
    # the skipped track stays hidden; the last one is offered; search, pick: matched
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n/\nhoppipolla takk\n1\n"))
    assert main(["resolve", "--stdin"]) == 0
    out = capsys.readouterr().out
    assert "1 track waits in the queue" in out
    assert waiting[2]["title"] not in out
    assert "'x' is not an answer here" in out
    assert "Hoppípolla" in out
    assert "  [1 pick, other: back] " in out  # one result: not "1-1"
    assert "that was the last one" in out
    last = {r["title"]: r for r in _listing(capsys)}[waiting[3]["title"]]
    assert (last["status"], last["rating_key"]) == ("manual", hoppipolla)


def test_resolve_on_an_empty_queue(env: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["resolve", "--stdin"]) == 0
    assert "nothing waits in the queue" in capsys.readouterr().out


def test_undo_of_a_track_nobody_decided(
    queue: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    row = next(r for r in _listing(capsys, "--status", "queued"))
    identity = [row["artist"], row["title"], row["album"]]
    assert main(["match", "--undo", *identity]) == 0
    out = capsys.readouterr().out
    assert "no decision to undo" in out
    assert "forgot" not in out
    assert main(["match", "--not-in-library", *identity]) == 0
    assert main(["match", "--undo", *identity]) == 0
    assert "forgot the decision" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals")
def test_resolve_on_a_real_terminal_takes_single_keys(
    queue: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Enter: one key press answers (the terminal in cbreak mode), search text is a line."""
    waiting = sorted(_listing(capsys, "--status", "queued"), key=lambda r: -r["plays"])
    main_end, child_end = os.openpty()
    process = subprocess.Popen([sys.executable, "-m", "daemon", "resolve"], cwd=Path.cwd(),
                               env=dict(os.environ), stdin=child_end, stdout=child_end,
                               stderr=child_end)
    os.close(child_end)
    seen = b""

    def until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while text not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            if select.select([main_end], [], [], 0.5)[0]:
                seen += os.read(main_end, 65536)

    try:
        until(b"q quit] ")
        os.write(main_end, b"n")  # no Enter
        until(b"-> not in your library")
        os.write(main_end, b"/")
        until(b"search: ")
        os.write(main_end, b"hoppipolla\n")
        until(b"pick, other: back] ")
        os.write(main_end, b"1")
        until(b"-> matched to")
        os.write(main_end, b"q")
        until(b"still wait")
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(main_end)
    statuses = {r["title"]: (r["status"], r["rating_key"]) for r in _listing(capsys)}
    assert statuses[waiting[0]["title"]] == ("not_in_library", None)
    assert statuses[waiting[1]["title"]] == ("manual", 41)
