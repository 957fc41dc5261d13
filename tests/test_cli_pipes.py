"""Output piped into a reader that stops early (`plexfm matches | head`) ends quietly: exit 0,
nothing on stderr (no traceback, no "Exception ignored" at interpreter exit). Real processes,
real pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store with a mirrored library and 3,000 scrobbled tracks (output far beyond a pipe's
    64 KiB buffer), and the environment that points plexfm at it."""
    from tests.fakes.plex_db import build_plex_db
    from tests.fakes.plex_library_gen import generate_library

    tmp = tmp_path_factory.mktemp("pipes")
    library = generate_library(1_500, seed=11)
    build_plex_db(tmp / "plex.db", library)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXFM_")}
    env.update({"PLEXFM_LASTFM_API_KEY": "k" * 32, "PLEXFM_LASTFM_USER": "alice",
                "PLEXFM_STORE_DATA_DIR": str(tmp / "data"),
                "PLEXFM_PLEX_DATABASE": str(tmp / "plex.db"), "PLEXFM_LOG_LEVEL": "WARNING"})
    engine = open_store(f"sqlite:///{tmp / 'data' / 'plexfm.db'}")
    items = []
    for i, track in enumerate(t for t in library.tracks if t.deleted_at is None):
        artist = library.track_artist(track) or library.artist_of(track).title
        items.append(Scrobble(1_600_000_000 + i, artist, track.title,
                              library.album_of(track).title))
    items += [Scrobble(1_650_000_000 + i, f"Band {i % 97}", f"Song {i}", "Tape")
              for i in range(3_000 - len(items))]
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(items), "test")
    engine.dispose()
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        assert main(["library"]) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return env


def _run(argv: list[str], env: dict[str, str], *, read: int) -> subprocess.CompletedProcess[bytes]:
    """Run plexfm, read `read` bytes of its output (0: none), then close the pipe."""
    cwd = Path(env["PLEXFM_STORE_DATA_DIR"]).parent  # never the repository
    process = subprocess.Popen([sys.executable, "-m", "daemon", *argv], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None
    if read:
        process.stdout.read(read)
    process.stdout.close()
    err = process.stderr.read()
    return subprocess.CompletedProcess(argv, process.wait(timeout=120), b"", err)


@pytest.mark.parametrize("argv", [["matches", "--json"], ["matches", "--jsonl"], ["matches"],
                                  ["search", "a"], ["--help"]],
                         ids=["json", "jsonl", "text", "search", "help"])
def test_a_reader_that_stops_early_ends_plexfm_quietly(
    store_env: dict[str, str], argv: list[str]
) -> None:
    result = _run(argv, store_env, read=100)
    assert result.stderr == b""
    assert result.returncode == 0


def test_an_export_to_a_reader_that_stops_early(store_env: dict[str, str]) -> None:
    result = _run(["export", "--format", "csv", "-"], store_env, read=100)
    # one large write per chunk: some kernels report it written although the reader left,
    # then the count of rows follows on stderr; never a traceback
    assert result.stderr in (b"", b"wrote 3,000 plays to stdout (csv)\n")
    assert result.returncode == 0


def test_a_pipe_closed_before_the_first_byte(store_env: dict[str, str]) -> None:
    result = _run(["status"], store_env, read=0)  # a few lines: written at exit, in one flush
    assert result.stderr == b""
    assert result.returncode == 0


FULL = Path("/dev/full")  # every write fails with ENOSPC, as on a full disk


@pytest.mark.skipif(not FULL.is_char_device(), reason="no /dev/full on this system")
@pytest.mark.parametrize("argv", [["status"], ["matches"], ["stats", "--json"],
                                  ["export", "--format", "csv", "-"]],
                         ids=["status", "matches", "stats", "export"])
def test_output_to_a_full_disk_is_one_line_and_exit_1(store_env: dict[str, str],
                                                      argv: list[str]) -> None:
    cwd = Path(store_env["PLEXFM_STORE_DATA_DIR"]).parent
    with FULL.open("wb") as full:
        result = subprocess.run([sys.executable, "-m", "daemon", *argv], cwd=cwd,
                                env=store_env, stdout=full, stderr=subprocess.PIPE,
                                timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.decode() == ("plexfm: cannot write the output: No space left on "
                                      "device\n")
