"""The import job and `plexfm import`: files other tools wrote are imported or refused (never
"success" with nothing), warnings are printed, and a play from another source that the store
already holds is merged, not doubled."""

from __future__ import annotations

import calendar
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from daemon.cli import main
from daemon.importers.job import import_files
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import open_store, write
from tests.environment import plexfm_only

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


def utc(*moment: int) -> int:
    return calendar.timegm((*moment, *(0,) * (6 - len(moment)), 0, 0, 0))


def store(engine: Engine, plays: list[Scrobble], source: str = "lastfm") -> None:
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(plays), source)


def stored(engine: Engine) -> list[tuple[int, str, str, str]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(  # type: ignore[misc]
            "SELECT uts, artist, title, source FROM scrobbles ORDER BY uts, source"))]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plexfm_only(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", "k" * 32)
    monkeypatch.setenv("PLEXFM_LASTFM_USER", "alice")
    monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


# ---- files other tools wrote: imported, or refused with a reason ----------------------------


@pytest.mark.parametrize(("name", "plays"), [
    ("maloja_export_2025_10_21_08_33_13.json", 3),
    ("pano-scrobbles.jsonl", 2),
    ("listenbrainz-import-payload.json", 2),
])
@pytest.mark.reliability("input", "bad export files")
def test_files_once_read_as_another_format_are_imported(
    env: Path, capsys: pytest.CaptureFixture[str], name: str, plays: int
) -> None:
    assert main(["import", str(FIXTURES / name)]) == 0
    out = capsys.readouterr().out
    assert f"{plays:,} new" in out
    engine = open_store(f"sqlite:///{env / 'data' / 'plexfm.db'}")
    assert len(stored(engine)) == plays
    engine.dispose()


@pytest.mark.reliability("input", "bad export files")
def test_a_file_that_gives_no_play_is_refused_with_exit_1(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listens = FIXTURES / "listens-2021-4.jsonl"
    good = FIXTURES / "exported_tracks.txt"
    assert main(["import", "--format", "ghan-csv", str(listens)]) == 1
    err = capsys.readouterr().err
    assert f"plexfm: import refused: {listens}: no play imported (read as ghan-csv): all 8" \
           " rows were skipped, the first at line 1: expected 8 fields, found 11" in err
    # the other files of the same run are still imported
    assert main(["import", str(listens), str(env / "missing.csv"), str(good)]) == 1
    captured = capsys.readouterr()
    assert f"plexfm: import refused: cannot read {env / 'missing.csv'}" in captured.err
    assert "imported 2 file(s): 14 rows read, 6 new" in captured.out


@pytest.mark.reliability("input", "bad export files")
def test_a_file_of_podcasts_only_is_refused_saying_why(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "Streaming_History_Audio_2024_0.json"
    episode = ('{"ts": "2024-01-01T10:00:00Z", "ms_played": 600000, "master_metadata_track_name":'
               ' null, "master_metadata_album_artist_name": null, "spotify_track_uri": null,'
               ' "episode_name": "E", "spotify_episode_uri": "spotify:episode:x"}')
    path.write_text(f"[{episode}, {episode}]", encoding="utf-8")
    counts = import_files(engine, [path], "alice")
    assert counts["refused"] == [
        f"{path}: no play imported (read as spotify): left out 2 podcast episode(s)"
    ]


# ---- warnings are printed -------------------------------------------------------------------


def test_import_warnings_are_printed(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = FIXTURES / "rockbox-sansae200.scrobbler.log"
    assert main(["import", str(log)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {log}: timestamps are the player's local time (#TZ/UNKNOWN)" in err


@pytest.mark.reliability("input", "bad export files")
def test_a_player_clock_reset_is_reported_with_its_lines(tmp_path: Path, engine: Engine) -> None:
    lines = ["#AUDIOSCROBBLER/1.1", "#TZ/UTC", "#CLIENT/Rockbox ipodvideo $Revision$"]
    start_2014, start_2000, start_2015 = utc(2014, 3, 1), utc(2000, 1, 1), utc(2015, 6, 1)
    plays = ([start_2014 + n * 86_400 for n in range(100)]
             + [start_2000 + n * 3 * 86_400 for n in range(160)]  # battery ran flat
             + [start_2015 + n * 86_400 for n in range(100)])
    lines += [f"Artist\tAlbum\tSong {n}\t1\t200\tL\t{uts}\t" for n, uts in enumerate(plays)]
    path = tmp_path / ".scrobbler.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = import_files(engine, [path], "alice")
    assert counts["added"] == 360  # the user's history, kept as dated
    assert [w for w in counts["warnings"] if "clock was" in w] == [
        f"{path}: lines 104-263: 160 plays dated 2000-01-01 to 2001-04-22, long before the"
        " log's other plays (2014-03-01 to 2015-09-08): the player's clock was probably reset;"
        " they were imported with these dates (fix or remove those lines and import again to"
        " change them)"
    ]


def test_an_ordinary_log_raises_no_clock_warning(tmp_path: Path, engine: Engine) -> None:
    shutil.copy(FIXTURES / "alice.scrobbler.log", tmp_path / ".scrobbler.log")
    counts = import_files(engine, [tmp_path / ".scrobbler.log"], "alice")
    assert not [w for w in counts["warnings"] if "clock was" in w]


# ---- one play, two sources: stored once -----------------------------------------------------


def test_spotify_plays_last_fm_already_has_are_merged(engine: Engine) -> None:
    # last.fm dates a play when it started; Spotify's ts is when it ended
    store(engine, [
        Scrobble(1679250521, "All Time Low", "Monsters (feat. Demi Lovato and blackbear)"),
        Scrobble(1679249832, "RÉMA", "Calm down!"),
        Scrobble(1679260000, "Only", "On last.fm"),
    ])
    spotify = FIXTURES / "Streaming_History_Audio_2023_3.json"
    counts = import_files(engine, [spotify], "alice")
    assert (counts["added"], counts["merged"], counts["already"]) == (1, 2, 0)
    assert stored(engine) == [
        (1679249832, "RÉMA", "Calm down!", "lastfm"),
        (1679250521, "All Time Low", "Monsters (feat. Demi Lovato and blackbear)", "lastfm"),
        (1679260000, "Only", "On last.fm", "lastfm"),
        (1679297866, "Sharn", "Mi Amor", "import:spotify"),
    ]
    again = import_files(engine, [spotify], "alice")
    assert (again["added"], again["merged"], again["already"]) == (0, 0, 3)
    assert len(stored(engine)) == 4


def test_last_fm_exports_after_spotify_merge_the_other_way(engine: Engine, tmp_path: Path) -> None:
    import_files(engine, [FIXTURES / "Streaming_History_Audio_2023_3.json"], "alice")
    export = tmp_path / "exported_tracks.txt"
    export.write_text("1679250521\tMonsters (feat. Demi Lovato and blackbear)\tAll Time Low"
                      "\t\t\t\t\n1679259000\tNew\tArtist\t\t\t\t\n", encoding="utf-8")
    counts = import_files(engine, [export], "alice")
    assert (counts["added"], counts["merged"]) == (1, 1)
    assert len(stored(engine)) == 4


def test_repeats_stay_repeats_and_each_play_is_matched_once(engine: Engine, tmp_path: Path) -> None:
    song = ("Artist", "Short Song")
    store(engine, [Scrobble(1_700_000_003, *song), Scrobble(1_700_000_102, *song)])
    rows = [f'{{"ts": "{ts}", "ms_played": 95000, "master_metadata_track_name": "{song[1]}",'
            f' "master_metadata_album_artist_name": "{song[0]}"}}'
            for ts in ("2023-11-14T22:14:55Z", "2023-11-14T22:16:35Z", "2023-11-14T22:18:15Z")]
    path = tmp_path / "Streaming_History_Audio_2023_0.json"
    path.write_text("[" + ",\n".join(rows) + "]", encoding="utf-8")
    counts = import_files(engine, [path], "alice")
    # three plays 100 s apart on Spotify, the first two also on last.fm: one is new
    assert (counts["added"], counts["merged"]) == (1, 2)
    assert [uts for uts, *_ in stored(engine)] == [1_700_000_003, 1_700_000_102, 1_700_000_200]


def test_minute_precision_exports_merge_to_the_minute(engine: Engine) -> None:
    store(engine, [
        Scrobble(utc(2014, 5, 22, 20, 11, 37), "TEEN", "Roses & Wine", "In Limbo"),
        Scrobble(utc(2014, 5, 22, 19, 58, 5), "Crosby, Stills, Nash & Young",
                 "Teach Your Children", "Déjà Vu"),
    ])
    counts = import_files(engine, [FIXTURES / "benjaminf.csv"], "alice")
    assert (counts["added"], counts["merged"], counts["skipped"]) == (1, 2, 1)
    assert [row[1:3] for row in stored(engine) if row[3] != "lastfm"] == [
        ("TEEN", "Why Why Why")
    ]


def test_the_cli_says_how_many_were_merged(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(FIXTURES / "benjaminf.csv")]) == 0
    capsys.readouterr()
    assert main(["import", str(FIXTURES / "Streaming_History_Audio_2023_3.json"),
                 str(FIXTURES / "benjaminf.csv")]) == 0
    out = capsys.readouterr().out
    assert out.strip() == ("imported 2 file(s): 8 rows read, 3 new, 0 merged with the same plays"
                           " from another source, 3 already stored, 2 skipped")
