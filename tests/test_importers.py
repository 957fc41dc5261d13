"""Export-file readers: every format, bad rows, detection, encodings, whole-file errors.

The limits every reader shares (caps, FIFOs, NUL bytes, nesting) are in test_import_limits;
the import job (merging, refusing) in test_import_job.
"""

from __future__ import annotations

import calendar
import gzip
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.errors import ImportFileError
from daemon.importers import limits, text
from daemon.importers.limits import MAX_PROBLEMS
from daemon.importers.registry import FORMATS, detect_format, read_export
from daemon.importers.report import ImportProblem, ImportReport
from daemon.scrobble import Scrobble

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


def utc(*moment: int) -> int:
    """Unix seconds of a UTC date and time."""
    return calendar.timegm((*moment, *(0,) * (6 - len(moment)), 0, 0, 0))


def read(path: Path, fmt: str | None = None) -> tuple[list[Scrobble], ImportReport]:
    report = ImportReport(str(path), "")
    return list(read_export(path, report, fmt)), report


def problems(report: ImportReport) -> list[tuple[int, str, str]]:
    """(line, reason, member); the parser's own words after "invalid JSON" are left out."""
    return [
        (p.line, "invalid JSON" if p.reason.startswith("invalid JSON:") else p.reason, p.member)
        for p in report.skipped
    ]


# (file, format, expected scrobbles, expected (line, reason, member) problems)
CASES = [
    (
        "recenttracks-alice-1.csv",
        "ghan-csv",
        [
            Scrobble(
                1779022496,
                "Nelly Furtado",
                "Say It Right",
                "Loose",
                "mb-artist-1",
                "",
                "mb-album-1",
            ),
            Scrobble(
                1779022200,
                "Crosby, Stills, Nash & Young",
                "Teach Your Children",
                "Déjà Vu",
                "",
                "mb-track-2",
            ),
            Scrobble(1779019000, 'The "Quoted" Band', "Line one\nline two"),
            Scrobble(1779018000, "Sigur Rós", "Hoppípolla"),
        ],
        [
            (4, "uts is not a number: 'abc'", ""),
            (6, "artist is missing", ""),
            (7, "expected 8 fields, found 5", ""),
            (10, "uts is negative or zero: -5", ""),
        ],
    ),
    (
        "recenttracks-bom-1.csv",
        "ghan-csv",
        [Scrobble(1779022496, "Björk", "Jóga", "Homogenic")],
        [],
    ),
    (
        "recenttracks-alice-1.json",
        "ghan-json",
        [
            Scrobble(
                1776024459,
                "Screaming Headless Torsos",
                "Just for Now",
                "Live!!",
                "mb-a1",
                "mb-t1",
                "mb-al1",
            ),
            Scrobble(1776024000, "bbc6music", "Live Session"),
            Scrobble(
                1603186824, "Tame Impala", "Elephant", "Lonerism", "mb-a2", "mb-t2", "", loved=1
            ),
        ],
        [
            (2, "track 4: date.uts is not a number: 'soon'", ""),
            (2, "track 5: artist is missing", ""),
            (12, "page is not a JSON object", ""),
        ],
    ),
    (
        "exported_tracks.txt",
        "lastexport-tsv",
        [
            Scrobble(1779022496, "Nelly Furtado", "Say It Right", "Loose", "mb-a", "", "mb-al"),
            Scrobble(1779022200, "Sigur Rós", "Hoppípolla", "Takk...", "", "mb-t", ""),
            Scrobble(1779019000, "Artist", "Last"),
        ],
        [
            (3, "uts is not a number: 'notanumber'", ""),
            (4, "expected 7 fields, found 4", ""),
            (6, "track is missing", ""),
        ],
    ),
    (
        "alice.scrobbler.log",
        "scrobbler-log",
        [
            Scrobble(1779022496, "Nelly Furtado", "Say It Right", "Loose", "", "mb-t"),
            Scrobble(1779022800, "Sigur Rós", "Glósóli", "Takk..."),
            Scrobble(1779025000, "#1 Band", "Hash Title"),
        ],
        [
            (5, "skipped track (rating S)", ""),
            (7, "artist is missing", ""),
            (8, "timestamp is not a number: 'yesterday'", ""),
            (9, "rating is not L or S: 'X'", ""),
            (10, "expected 8 fields, found 3", ""),
        ],
    ),
    (
        "listens-2021-4.jsonl",
        "listenbrainz-jsonl",
        [
            Scrobble(
                1618000000, "Nelly Furtado", "Say It Right", "Loose", "art-1", "rec-1", "rel-1"
            ),
            Scrobble(
                1618000300, "Sigur Rós", "Hoppípolla", "", "map-art-2", "map-rec-2", "map-rel-2"
            ),
            Scrobble(1618000600, "Unmapped", "Song"),
        ],
        [
            (
                4,
                "invalid JSON",
                "",
            ),
            (5, "artist_name is missing", ""),
            (7, "listened_at is negative or zero: -1", ""),
            (8, "listened_at is missing", ""),
            (9, "no track_metadata object", ""),
        ],
    ),
    (
        "alice_lb-2020-05-01.json",
        "listenbrainz-json",
        [
            Scrobble(1588291200, "Nelly Furtado", "Say It Right", "Loose", "art-1", "rec-1", ""),
            Scrobble(1588291500, "Sigur Rós", "Hoppípolla"),
            Scrobble(1588292100, "Björk", "Jóga", "Homogenic"),
        ],
        [(9, "no track_metadata object", "")],
    ),
    (
        "listenbrainz_alice_1700000000.zip",
        "listenbrainz-zip",
        [  # months in calendar order (2021/4 before 2021/10); feedback and pins ignored
            Scrobble(1607000000, "December", "Song", "", "map-art", "map-rec", "map-rel"),
            Scrobble(1618000000, "April", "Song"),
            Scrobble(1633000000, "October", "Song"),
        ],
        [
            (
                2,
                "invalid JSON",
                "listens/2021/4.jsonl",
            )
        ],
    ),
    (
        "Streaming_History_Audio_2023_3.json",
        "spotify",
        [  # offline plays are dated by offline_timestamp, online ones by ts - ms_played
            Scrobble(1679250523, "All Time Low", "Monsters (feat. Demi Lovato and blackbear)",
                     "Monsters (feat. Demi Lovato and blackbear)"),
            Scrobble(1679249830, "Rema", "Calm Down", "Calm Down"),
            Scrobble(utc(2023, 3, 20, 7, 41, 9) - 203, "Sharn", "Mi Amor", "Mi Amor"),
        ],
        [(152, "ts is not a time: 'yesterday'", "")],
    ),
    (
        "endsong_0.json",
        "spotify",
        [  # offline_timestamp is only used for offline plays; 0 ms played is left out
            Scrobble(utc(2013, 3, 14, 10, 44, 25) - 155, "The Yardbirds", "Got To Hurry",
                     "Classic Yardbirds Vol.1"),
            Scrobble(utc(2017, 12, 24, 19, 37, 40) - 76, "Beastie Boys", "To All The Girls",
                     "Paul's Boutique"),
            Scrobble(utc(2010, 12, 1, 10, 28, 44) - 212, "Spoon", "I Turn My Camera On",
                     "Gimme Fiction"),
            Scrobble(utc(2021, 5, 10, 11, 3, 21) - 581, "Nubya Garcia", "Fly Free",
                     "Nubya's 5ive"),
        ],
        [],
    ),
    (
        "maloja_export_2025_10_21_08_33_13.json",
        "maloja",
        [
            Scrobble(1760532613, "Alabaster Deplume", "Not Now, Jesus",
                     "To Cy & Lee: Instrumentals Vol. 1"),
            Scrobble(1760532855, "Vega Trails", "Old Friend; The Sea", "Sierra Tracks"),
            Scrobble(1760533200, "Calvin Harris, Dua Lipa", "One Kiss"),
        ],
        [(56, "no track object", "")],
    ),
    (
        "pano-scrobbles.jsonl",
        "pano-jsonl",
        [
            Scrobble(1762957898, "KiloWatts", "Scraped On The Way Out", "Problem/Solving"),
            Scrobble(1762874400, "Rick Astley", "Never Gonna Give You Up",
                     "Whenever You Need Somebody"),
        ],
        [(4, "timeMs is not a number: 'soon'", "")],
    ),
    (
        "librefm-export.csv",
        "librefm-csv",
        [
            Scrobble(1690347960, "The Horrors", "New Ice Age", "Primary Colours"),
            Scrobble(1690348225, "Sweet Garden", "Altered State"),
            Scrobble(1690348500, "Jay-Z", "Empire State of Mind", "The Blueprint 3"),
            Scrobble(1690348800, "Björk", "Jóga", "Homogenic"),
        ],
        [(9, "expected 4 fields, found 2", "")],
    ),
    (
        "librefm-comments.csv",
        "librefm-csv",
        [
            Scrobble(1690347960, "The Horrors", "New Ice Age", "Primary Colours"),
            Scrobble(1690348225, "Sweet Garden", "Altered State"),
            Scrobble(1760532855, "Vega Trails", "Old Friend; The Sea", "Sierra Tracks"),
        ],
        [],
    ),
    (
        "listenbrainz-import-payload.json",
        "listenbrainz-payload",
        [
            Scrobble(1616112420, "Heinrich Kaminski", "Maria durch ein Dornwald ging"),
            Scrobble(1616112660, "William Walton", "Make We Joy In This Fest (Trad. Carol)",
                     "Carols", "", "rec-walton"),
        ],
        [(26, "listened_at is missing", "")],
    ),
    (
        "benjaminf.csv",
        "lastfm-to-csv",
        [
            Scrobble(utc(2014, 5, 22, 20, 11), "TEEN", "Roses & Wine", "In Limbo"),
            Scrobble(utc(2014, 5, 22, 20, 5), "TEEN", "Why Why Why", "In Limbo"),
            Scrobble(utc(2014, 5, 22, 19, 58), "Crosby Stills Nash & Young",
                     "Teach Your Children", "Deja Vu"),
        ],
        [(5, "date is not like '22 May 2014 20:11': 'someday'", "")],
    ),
]


@pytest.mark.parametrize(("name", "fmt", "expected", "expected_problems"), CASES)
def test_reads_every_format(
    name: str, fmt: str, expected: list[Scrobble], expected_problems: list[tuple[int, str, str]]
) -> None:
    path = FIXTURES / name
    assert detect_format(path) == fmt
    scrobbles, report = read(path)
    assert scrobbles == expected
    assert problems(report) == expected_problems
    assert report.format == fmt
    assert report.skipped_count == len(expected_problems)
    assert report.rows_read == len(expected) + len(expected_problems)
    assert report.imported == len(expected)


def test_every_format_has_a_fixture() -> None:
    assert {case[1] for case in CASES} == set(FORMATS)


def test_ghan_json_warns_about_now_playing() -> None:
    _, report = read(FIXTURES / "recenttracks-alice-1.json")
    assert report.warnings == ["left out 1 now-playing item(s)"]


def test_report_is_optional() -> None:
    assert len(list(read_export(FIXTURES / "exported_tracks.txt"))) == 3


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("berlin")
def test_scrobbler_log_in_unknown_zone_is_local_time() -> None:
    scrobbles, report = read(FIXTURES / "local.scrobbler.log")
    # 2026-05-17 12:54:56 and 2026-01-01 00:00 Berlin wall-clock time: CEST (+2) and CET (+1)
    assert [s.uts for s in scrobbles] == [1779022496 - 7200, 1767225600 - 3600]
    assert len(report.warnings) == 1
    assert "local time (#TZ/UNKNOWN)" in report.warnings[0]
    assert "CET" in report.warnings[0]


def test_json_is_streamed_across_tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = {
        name: read(FIXTURES / name)
        for name in ("recenttracks-alice-1.json", "alice_lb-2020-05-01.json")
    }
    monkeypatch.setattr(text, "CHUNK", 5)  # splits keys, numbers and UTF-8 sequences
    monkeypatch.setattr(limits, "MAX_WHOLE_JSON_BYTES", 0)  # the streaming parser, not msgspec
    for name, (scrobbles, report) in whole.items():
        chunked, chunked_report = read(FIXTURES / name)
        assert chunked == scrobbles
        assert chunked_report.skipped == report.skipped


@pytest.mark.reliability("input", "bad export files")
def test_truncated_json_keeps_what_came_before(tmp_path: Path) -> None:
    text = (FIXTURES / "alice_lb-2020-05-01.json").read_text(encoding="utf-8")
    path = tmp_path / "bob_lb-2020-05-01.json"
    path.write_text(text[: text.index('"Björk"')], encoding="utf-8")
    scrobbles, report = read(path)
    assert [s.artist for s in scrobbles] == ["Nelly Furtado", "Sigur Rós"]
    assert problems(report)[-1] == (10, "invalid JSON", "")
    assert report.warnings == ["stopped at line 10: the rest is not valid JSON"]


@pytest.mark.reliability("input", "bad export files")
def test_json_in_windows_1252_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "bob_lb-2020-05-01.json"
    text = (FIXTURES / "alice_lb-2020-05-01.json").read_text(encoding="utf-8")
    path.write_bytes(text.encode("cp1252"))
    scrobbles, report = read(path)
    assert scrobbles == read(FIXTURES / "alice_lb-2020-05-01.json")[0]
    assert report.warnings == ["some bytes are not UTF-8 and were read as Windows-1252"]


@pytest.mark.reliability("input", "bad export files")
def test_raw_control_characters_in_json_strings(tmp_path: Path) -> None:
    path = tmp_path / "bob_lb-2020-05-01.json"
    listen = (
        '{"listened_at": 1588291200, "track_metadata": {"artist_name": "A\tB", "track_name": "T"}}'
    )
    path.write_text(f"[{listen}]", encoding="utf-8")
    assert read(path)[0] == [Scrobble(1588291200, "A\tB", "T")]


@pytest.mark.reliability("input", "bad export files")
def test_bom_before_json_and_jsonl(tmp_path: Path) -> None:
    for name in ("alice_lb-2020-05-01.json", "listens-2021-4.jsonl"):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / name).read_bytes())
        assert detect_format(path) == detect_format(FIXTURES / name)
        assert read(path)[0] == read(FIXTURES / name)[0]


@pytest.mark.reliability("input", "bad export files")
def test_windows_1252_lines_are_repaired(tmp_path: Path) -> None:
    path = tmp_path / "old.scrobbler.log"
    body = "#AUDIOSCROBBLER/1.1\n#TZ/UTC\nSigur Rós\tTakk\tGlósóli\t2\t374\tL\t1779022800\t\n"
    path.write_bytes(body.encode("cp1252"))
    scrobbles, report = read(path)
    assert scrobbles == [Scrobble(1779022800, "Sigur Rós", "Glósóli", "Takk")]
    assert report.warnings == [
        "1 line(s) are not UTF-8 and were read as Windows-1252 (first: line 3)"
    ]


@pytest.mark.reliability("input", "bad export files")
def test_problems_are_capped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "exported_tracks.txt"
    bad = MAX_PROBLEMS + 500
    path.write_text("1779022496\tT\tA\tB\t\t\t\n" + "x\tT\tA\tB\t\t\t\n" * bad, encoding="utf-8")
    scrobbles, report = read(path)
    assert len(scrobbles) == 1
    assert report.skipped_count == bad
    assert len(report.skipped) == MAX_PROBLEMS
    assert report.skipped[-1] == ImportProblem(MAX_PROBLEMS + 1, "uts is not a number: 'x'")
    assert report.warnings == [f"only the first {MAX_PROBLEMS} of {bad} problems are listed"]


def test_headerless_ghan_csv_and_odd_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "plays.csv"
    path.write_text(
        '"1779022496","","A","","B","","T",""\n'
        '"17790224960000","","A","","B","","Millis",""\n'
        '"0","","A","","B","","Zero",""\n',
        encoding="utf-8",
    )
    scrobbles, report = read(path)
    # the one timestamp rule of every source: 0 < uts <= now + 1 day; last.fm's own
    # exports may also carry its undated legacy scrobbles (uts 0), stored as undated plays
    # as the pull stores them
    assert scrobbles == [Scrobble(1779022496, "A", "T", "B"), Scrobble(0, "A", "Zero", "B")]
    assert problems(report) == [
        (2, "uts is more than a day in the future (milliseconds?): 17790224960000", ""),
    ]


@pytest.mark.reliability("input", "bad export files")
def test_listenbrainz_zero_timestamp_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "listens.jsonl"
    path.write_text('{"listened_at": 0, "track_metadata": {"artist_name": "A", '
                    '"track_name": "T"}}\n', encoding="utf-8")
    scrobbles, report = read(path)
    assert scrobbles == []
    assert problems(report) == [(1, "listened_at is negative or zero: 0", "")]


def test_ghan_csv_header_may_reorder_and_omit_columns(tmp_path: Path) -> None:
    path = tmp_path / "recenttracks-x-1.csv"
    path.write_text("artist,track,uts\nA,T,1779022496\n", encoding="utf-8")
    assert read(path)[0] == [Scrobble(1779022496, "A", "T")]


# ---- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [(case[0], case[1]) for case in CASES if case[0] != "recenttracks-bom-1.csv"],
)
def test_detects_by_content_whatever_the_name(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / "export.dat"
    shutil.copy(FIXTURES / name, path)
    assert detect_format(path) == fmt


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("recenttracks-bob-1.json", "[]", "ghan-json"),
        ("bob_lb-2020-01-01.json", "[]\n", "listenbrainz-json"),
        ("recenttracks-bob-1.csv", "", "ghan-csv"),
        ("scrobbles-bob.csv", "\n", "ghan-csv"),
        (".scrobbler.log", "", "scrobbler-log"),
        ("4.jsonl", "", "listenbrainz-jsonl"),
        ("exported_tracks.txt", "", "lastexport-tsv"),
        ("Streaming_History_Audio_2020_0.json", "[]", "spotify"),
        ("endsong_3.json", "", "spotify"),
        ("maloja_export_2025_01_01_00_00_00.json", "", "maloja"),
    ],
)
def test_detects_by_name_when_content_says_nothing(
    tmp_path: Path, name: str, content: str, fmt: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path) == fmt
    scrobbles, report = read(path)
    assert scrobbles == []
    assert report.skipped == []


def test_forced_format_reads_what_detection_cannot(tmp_path: Path) -> None:
    path = tmp_path / "plays.txt"
    path.write_text("1779022496\tSong\tArtist\tAlbum\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="cannot tell the format"):
        detect_format(path)
    scrobbles, report = read(path, fmt="lastexport-tsv")
    assert scrobbles == []
    assert problems(report) == [(1, "expected 7 fields, found 4", "")]
    assert report.format == "lastexport-tsv"


def test_forced_format_wins_over_content(tmp_path: Path) -> None:
    path = tmp_path / "listens.txt"
    shutil.copy(FIXTURES / "listens-2021-4.jsonl", path)
    scrobbles, _ = read(path, fmt="listenbrainz-jsonl")
    assert len(scrobbles) == 3
    _, report = read(path, fmt="ghan-csv")
    assert report.imported == 0
    assert report.skipped_count == report.rows_read > 0


# ---- whole-file errors --------------------------------------------------------------------


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize(
    ("name", "content", "fmt", "message"),
    [
        ("notes.txt", b"hello world\n", None, "cannot tell the format of .*: it matches no known"),
        ("notes.txt", b"", None, "cannot tell the format of .*: the file is empty"),
        ("u16.csv", "uts,artist\n".encode("utf-16"), None, "is UTF-16 .*not UTF-8"),
        ("nul.csv", b"uts,artist\x00\n", None, "cannot tell the format .*: it holds NUL bytes"),
        ("x.csv.gz", gzip.compress(b"uts,artist\n"), None, "is gzip-compressed"),
        ("x.zip", b"PK\x03\x04 this is not really a zip", None, "is not a readable zip archive"),
        ("x.zip", b"uts\n", "listenbrainz-zip", "is not a zip archive"),
        ("x.csv", b"uts\n", "winamp", "unknown import format 'winamp'"),
    ],
)
@pytest.mark.reliability("input", "bad export files")
def test_unreadable_files_raise_one_line(
    tmp_path: Path, name: str, content: bytes, fmt: str | None, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message) as info:
        read_export(path, fmt=fmt)  # raises at once, before iteration
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value) or fmt == "winamp"


@pytest.mark.reliability("input", "bad export files")
def test_missing_file_and_directory(tmp_path: Path) -> None:
    for path in (tmp_path / "nope.csv", tmp_path):
        with pytest.raises(ImportFileError, match=f"cannot read {re.escape(str(path))}"):
            detect_format(path)


@pytest.mark.reliability("input", "bad export files")
def test_zip_without_listens(tmp_path: Path) -> None:
    path = _zip(tmp_path / "other.zip", {"user.json": "{}", "feedback.jsonl": "{}\n"})
    with pytest.raises(
        ImportFileError, match=r"cannot tell the format of .*without listens/<year>/<month>\.jsonl"
    ):
        detect_format(path)


def test_zip_in_a_folder_and_a_zip_forced_as_text(tmp_path: Path) -> None:
    line = (FIXTURES / "listens-2021-4.jsonl").read_text(encoding="utf-8").splitlines()[0]
    path = _zip(tmp_path / "export.zip", {"listenbrainz_alice/listens/2021/4.jsonl": line})
    assert [s.artist for s in read(path)[0]] == ["Nelly Furtado"]
    with pytest.raises(ImportFileError, match="is a zip archive: not listenbrainz-jsonl"):
        read_export(path, fmt="listenbrainz-jsonl")


@pytest.mark.reliability("input", "bad export files")
def test_damaged_zip_member_is_a_warning(tmp_path: Path) -> None:
    good = (FIXTURES / "listens-2021-4.jsonl").read_text(encoding="utf-8").splitlines()[0]
    path = _zip(
        tmp_path / "export.zip", {"listens/2021/4.jsonl": good, "listens/2021/5.jsonl": good}
    )
    data = path.read_bytes()
    at = data.index(b"Nelly") + 1  # stored, so the text is in the archive as is
    path.write_bytes(data[:at] + b"E" + data[at + 1 :])
    scrobbles, report = read(path)
    assert [s.artist for s in scrobbles] == ["Nelly Furtado"]  # the other member still counts
    assert report.warnings[0].startswith("listens/2021/4.jsonl: damaged")


def test_ghan_json_single_response_object(tmp_path: Path) -> None:
    path = tmp_path / "page.json"
    path.write_text(
        '{"recenttracks": {"track": {"artist": {"mbid": "", "#text": "A"}, "name": "T",'
        ' "album": {"mbid": "", "#text": "B"}, "mbid": "", "date": {"uts": 1776024459}},'
        ' "@attr": {"page": "1", "total": "1"}}}',
        encoding="utf-8",
    )
    assert detect_format(path) == "ghan-json"
    assert read(path)[0] == [Scrobble(1776024459, "A", "T", "B")]


@pytest.mark.reliability("input", "bad export files")
def test_unparsable_csv_record_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "recenttracks-x-1.csv"
    huge = "x" * 140_000  # over the csv module's field size limit
    path.write_text(f"uts,artist,track\n1779022496,A,{huge}\n1779022497,A,T\n", encoding="utf-8")
    scrobbles, report = read(path)
    assert scrobbles == [Scrobble(1779022497, "A", "T")]
    assert report.skipped[0].line == 2
    assert report.skipped[0].reason.startswith("unreadable CSV: field larger than field limit")


def test_spotify_rows_of_an_unexpected_type_are_bad_rows_not_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "Streaming_History_Audio_2023_0.json"
    row = ('{{"ts": "2023-03-20T07:41:09Z", "ms_played": {played}, "master_metadata_track_name":'
           ' "Mi Amor", "master_metadata_album_artist_name": "Sharn"}}')
    path.write_text("[\n" + ",\n".join([row.format(played=203048), row.format(played='"lots"'),
                                        row.format(played=40000)]) + "\n]", encoding="utf-8")
    scrobbles, report = read(path)
    assert [s.uts for s in scrobbles] == [utc(2023, 3, 20, 7, 41, 9) - 203,
                                         utc(2023, 3, 20, 7, 41, 9) - 40]
    assert problems(report) == [
        (3, "unexpected field: Expected `int | null`, got `str` - at `$.ms_played`", "")
    ]
