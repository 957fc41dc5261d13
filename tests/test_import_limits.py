"""The limits every reader shares (issue 10, item 8): line and field caps, JSON elements too
large or too deep, the unpacked size of an archive, FIFOs and devices, NUL bytes anywhere."""

from __future__ import annotations

import json
import os
import threading
import zipfile
from pathlib import Path

import pytest

from daemon.errors import ImportFileError
from daemon.importers import limits
from daemon.importers.registry import detect_format, read_export
from daemon.importers.report import ImportReport
from daemon.scrobble import Scrobble

pytestmark = pytest.mark.reliability("input", "bad export files")

HUGE = 3 * 1024 * 1024  # a 3 MB name: over the line, element and field caps


def read(path: Path, fmt: str | None = None) -> tuple[list[Scrobble], ImportReport]:
    report = ImportReport(str(path), "")
    return list(read_export(path, report, fmt)), report


def reasons(report: ImportReport) -> list[tuple[int, str]]:
    return [(p.line, p.reason) for p in report.skipped]


def listen(uts: int, artist: str, title: str = "T") -> str:
    return json.dumps({"listened_at": uts, "track_metadata": {"artist_name": artist,
                                                              "track_name": title}})


# ---- field and line caps --------------------------------------------------------------------


def test_a_field_over_the_cap_skips_its_row(tmp_path: Path) -> None:
    path = tmp_path / "recenttracks-x-1.csv"
    long_name = "A" * (limits.MAX_FIELD_CHARS + 1)
    path.write_text(f"uts,artist,track\n1779022496,{long_name},T\n1779022497,B,T\n"
                    f"1779022498,C,{'t' * 5000}\n", encoding="utf-8")
    scrobbles, report = read(path)
    assert scrobbles == [Scrobble(1779022497, "B", "T")]
    assert reasons(report) == [
        (2, f"artist is longer than {limits.MAX_FIELD_CHARS} characters (2,001)"),
        (4, f"track is longer than {limits.MAX_FIELD_CHARS} characters (5,000)"),
    ]


def test_a_line_over_the_cap_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "listens.jsonl"
    path.write_text("\n".join([listen(1618000000, "A"), listen(1618000001, "B" * HUGE),
                               listen(1618000002, "C")]) + "\n", encoding="utf-8")
    scrobbles, report = read(path)
    assert [s.artist for s in scrobbles] == ["A", "C"]
    assert reasons(report) == [(2, f"line longer than {limits.MAX_LINE_BYTES:,} bytes")]


def test_every_text_format_caps_its_fields(tmp_path: Path) -> None:
    long_name = "Z" * (limits.MAX_FIELD_CHARS + 1)
    files = {
        "exported_tracks.txt": f"1779022496\tT\t{long_name}\tB\t\t\t\n",
        ".scrobbler.log": (
            f"#AUDIOSCROBBLER/1.1\n#TZ/UTC\n{long_name}\tB\tT\t1\t100\tL\t1779022496\n"
        ),
        "maloja_export_1.json": json.dumps(
            {"scrobbles": [{"time": 1779022496, "track": {"artists": [long_name], "title": "T"}}]}
        ),
        "benjaminf.csv": f"{long_name},Album,T,22 May 2014 20:11\n",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        scrobbles, report = read(path)
        assert scrobbles == [], name
        assert report.skipped_count == 1, name
        assert "longer than" in report.skipped[0].reason, name


# ---- JSON elements --------------------------------------------------------------------------


def _lb_array(tmp_path: Path, middle: str) -> Path:
    path = tmp_path / "bob_lb-2020-05-01.json"
    path.write_text(f"[{listen(1588291200, 'A')},\n{middle},\n{listen(1588291300, 'C')}]",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("streamed", [False, True])
def test_a_huge_json_element_is_skipped_and_the_rest_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    if streamed:  # the streaming parser, as for an array larger than MAX_WHOLE_JSON_BYTES
        monkeypatch.setattr(limits, "MAX_WHOLE_JSON_BYTES", 0)
        monkeypatch.setattr(limits, "MAX_ELEMENT_BYTES", 1 << 20)
    path = _lb_array(tmp_path, listen(1588291250, "B" * HUGE))
    scrobbles, report = read(path)
    assert [s.artist for s in scrobbles] == ["A", "C"]
    expected = ("JSON element larger than 1,048,576 bytes" if streamed
                else f"artist_name is longer than {limits.MAX_FIELD_CHARS} characters (3,145,728)")
    assert reasons(report) == [(2, expected)]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_deeply_nested_json_element_is_skipped_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    if streamed:
        monkeypatch.setattr(limits, "MAX_WHOLE_JSON_BYTES", 0)
    deep = '{"listened_at": 1588291250, "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    scrobbles, report = read(_lb_array(tmp_path, deep))
    assert [s.artist for s in scrobbles] == ["A", "C"]
    assert reasons(report) == [(2, "JSON element nested too deeply")]


def test_a_deeply_nested_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "listens.jsonl"
    deep = '{"listened_at": 1, "track_metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text(f"{listen(1618000000, 'A')}\n{deep}\n{listen(1618000002, 'C')}\n",
                    encoding="utf-8")
    scrobbles, report = read(path)
    assert [s.artist for s in scrobbles] == ["A", "C"]
    assert reasons(report) == [(2, "invalid JSON: nested too deeply")]


# ---- archives -------------------------------------------------------------------------------


def test_an_archive_unpacking_past_the_cap_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "listenbrainz_bob_1.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("listens/2021/4.jsonl", (listen(1618000000, "A") + "\n") * 2000)
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", 10_000)  # the member unpacks to ~140 kB
    with pytest.raises(ImportFileError, match=r"unpacks to [\d,]+ bytes, more than the 10,000"):
        read(path)


# ---- what is not a regular file -------------------------------------------------------------


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "scrobbles.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException | str] = []

    def detect() -> None:
        try:
            outcome.append(detect_format(fifo))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=detect, daemon=True)
    worker.start()
    worker.join(timeout=10)  # a deadline: opening a FIFO for reading blocks until a writer
    assert not worker.is_alive(), "detect_format hung on a FIFO"
    assert isinstance(outcome[0], ImportFileError)
    assert str(outcome[0]) == f"cannot read {fifo}: it is a FIFO (named pipe), not an export file"


def test_a_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="/dev/null: it is a device"):
        read_export(Path("/dev/null"), fmt="ghan-csv")


# ---- NUL bytes ------------------------------------------------------------------------------


def test_nul_bytes_are_treated_the_same_anywhere_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "recenttracks-x-1.csv"
    good = [f"{1779000000 + n},A,T{n}" for n in range(5000)]
    good[0] = "1779000000,A\x00B,T0"  # in the first bytes detection reads
    good[4000] = "1779004000,A,T\x004000"  # far past them
    path.write_text("uts,artist,track\n" + "\n".join(good) + "\n", encoding="utf-8")
    scrobbles, report = read(path)
    assert len(scrobbles) == 4998
    assert reasons(report) == [(2, "artist holds a NUL character"),
                               (4002, "track holds a NUL character")]


def test_an_escaped_nul_in_json_is_a_nul_too(tmp_path: Path) -> None:
    path = tmp_path / "listens.jsonl"
    path.write_text(listen(1618000000, "A\x00B") + "\n" + listen(1618000001, "C") + "\n",
                    encoding="utf-8")
    scrobbles, report = read(path)
    assert [s.artist for s in scrobbles] == ["C"]
    assert reasons(report) == [(1, "artist_name holds a NUL character")]
