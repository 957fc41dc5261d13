"""Readers for the listening-history export files users already have.

Each reader turns one export file into the same `Scrobble` records the last.fm client
produces, streaming: memory stays flat however long the file is. A malformed row is skipped,
counted and recorded in an `ImportReport` with its line number; only a file that cannot be read
at all raises `ImportFileError`. Strings are kept raw (no normalisation); timestamps are integer
Unix seconds, UTC.

| format             | what                                                                 |
|--------------------|----------------------------------------------------------------------|
| ghan-csv           | lastfm.ghan.nl CSV: uts,utc_time,artist,artist_mbid,album,...         |
| ghan-json          | the same site's JSON: a list of user.getRecentTracks pages            |
| lastexport-tsv     | lastexport.py: uts, track, artist, album, track/artist/album mbid     |
| listenbrainz-zip   | ListenBrainz export: listens/<year>/<month>.jsonl inside a ZIP        |
| listenbrainz-jsonl | one of those .jsonl files                                            |
| listenbrainz-json  | the legacy single JSON array <user>_lb-YYYY-MM-DD.json                |
| scrobbler-log      | Audioscrobbler .scrobbler.log written by portable players            |

`detect_format` looks at the content first and the file name second. Text must be UTF-8: a
BOM is dropped, bytes that are not UTF-8 are read as Windows-1252 (old players wrote that) with
a warning; UTF-16, NUL bytes and gzip are refused. In JSON arrays a problem's line is the line
where the array element (for ghan-json: the page) starts.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import re
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from pathlib import Path
from typing import IO, TypeVar

import msgspec

from daemon.errors import ImportFileError
from daemon.scrobble import Scrobble

log = logging.getLogger(__name__)

MAX_PROBLEMS = 1000
"""Problems kept in a report; `ImportReport.skipped_count` stays exact beyond it."""
MAX_UTS = 4_102_444_800
"""2100-01-01: a later timestamp is a unit mistake (milliseconds), not a play."""
GHAN_COLUMNS = (
    "uts",
    "utc_time",
    "artist",
    "artist_mbid",
    "album",
    "album_mbid",
    "track",
    "track_mbid",
)
_HEAD_BYTES = 1 << 16
_CHUNK = 1 << 20
_MAX_JSON_STRING = 1 << 22
_BOM = b"\xef\xbb\xbf"
_ZIP_MAGIC = b"PK\x03\x04"
_REFUSED_STARTS = (
    (b"\x1f\x8b", "is gzip-compressed: unpack it first"),
    (b"\xff\xfe", "is UTF-16 or UTF-32 text, not UTF-8: save it as UTF-8"),
    (b"\xfe\xff", "is UTF-16 text, not UTF-8: save it as UTF-8"),
)
_NO_LISTENS = "a zip archive without listens/<year>/<month>.jsonl"
_LISTENS_MEMBER = re.compile(r"(?:^|/)listens/(\d{4})/(\d{1,2})\.jsonl$")
_JSON_WS = re.compile(r"[ \t\n\r]*")
_LB_KEY = re.compile(r'"(?:listened_at|track_metadata)"\s*:')
_GHAN_KEY = re.compile(r'"(?:recenttracks|track|#text)"\s*:')
_NAME_PATTERNS = (
    (re.compile(r"(?:^|\.)scrobbler\.log$", re.I), "scrobbler-log"),
    (re.compile(r"_lb-[0-9-]+\.json$", re.I), "listenbrainz-json"),
    (re.compile(r"\.jsonl$", re.I), "listenbrainz-jsonl"),
    (re.compile(r"^(?:recenttracks|scrobbles)-.*\.csv$", re.I), "ghan-csv"),
    (re.compile(r"^(?:recenttracks|scrobbles)-.*\.json$", re.I), "ghan-json"),
    (re.compile(r"\.zip$", re.I), "listenbrainz-zip"),
    (re.compile(r"^exported_tracks\.txt$|\.tsv$", re.I), "lastexport-tsv"),
)
_CP1252 = tuple(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))
_REPAIR = "plexfm-cp1252"
_JSON = json.JSONDecoder(strict=False)  # tolerate raw tabs and newlines in strings

_T = TypeVar("_T")
_Rows = Iterable[tuple[int, _T]]
"""(1-based line number, row) pairs."""


def _read_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(_CP1252[b] for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(_REPAIR, _read_as_cp1252)


@dataclass(frozen=True)
class ImportProblem:
    """One skipped row."""

    line: int
    reason: str
    member: str = ""


@dataclass
class ImportReport:
    """What reading one file did: rows read, rows skipped (the first MAX_PROBLEMS), warnings."""

    path: str
    format: str
    rows_read: int = 0
    skipped: list[ImportProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_count: int = 0

    @property
    def imported(self) -> int:
        """Rows that became scrobbles."""
        return self.rows_read - self.skipped_count

    def add_problem(self, line: int, reason: str, member: str = "") -> None:
        """Count a skipped row; keep its details while fewer than MAX_PROBLEMS are kept."""
        self.skipped_count += 1
        if len(self.skipped) < MAX_PROBLEMS:
            self.skipped.append(ImportProblem(line, reason, member))


class _RowError(Exception):
    """This row is malformed; the message is the one-line reason."""


class _BrokenJsonError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


# ---- field checks -------------------------------------------------------------------------


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _uts(value: object, name: str, *, legacy_zero: bool = False) -> int:
    """Seconds since the epoch from a number or numeric string (floats are truncated).

    `legacy_zero` accepts 0: last.fm itself serves its oldest "legacy" scrobbles with uts 0,
    so exports taken from its API (ghan, lastexport) carry them and must store what a pull does.
    """
    if value is None or value == "":
        raise _RowError(f"{name} is missing")
    try:
        if isinstance(value, str):
            try:
                uts = int(value)
            except ValueError:
                uts = int(float(value))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            uts = int(value)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise _RowError(f"{name} is not a number: {_show(value)}") from None
    if uts < 0 or (uts == 0 and not legacy_zero):
        raise _RowError(f"{name} is negative or zero: {uts}")
    if uts >= MAX_UTS:
        raise _RowError(f"{name} is after the year 2100 (milliseconds?): {uts}")
    return uts


def _need(value: object, name: str) -> str:
    if not isinstance(value, str) or not value or value.isspace():
        raise _RowError(f"{name} is missing")
    return value


def _opt(value: object) -> str:
    return value if isinstance(value, str) else ""


def _key(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, dict) else None


# ---- reading bytes ------------------------------------------------------------------------


def _lines(stream: IO[bytes], report: ImportReport, member: str = "") -> Iterator[str]:
    """Decoded lines (ends kept), BOM dropped, non-UTF-8 lines read as Windows-1252."""
    first = stream.readline()
    if not first:
        return
    repaired: list[int] = []
    for lineno, raw in enumerate(chain([first.removeprefix(_BOM)], stream), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", _REPAIR)
            repaired.append(lineno)
        yield text
    if repaired:
        where = f"{member}: " if member else ""
        report.warnings.append(
            f"{where}{len(repaired)} line(s) are not UTF-8 and were read as Windows-1252"
            f" (first: line {repaired[0]})"
        )


def _text_chunks(stream: IO[bytes], report: ImportReport) -> Iterator[str]:
    """The text in chunks, BOM dropped; switches to Windows-1252 repair at the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    started = False
    while True:
        data = stream.read(_CHUNK)
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            pending = decoder.getstate()[0]
            decoder = codecs.getincrementaldecoder("utf-8")(_REPAIR)
            text = decoder.decode(pending + data, final=not data)
            report.warnings.append("some bytes are not UTF-8 and were read as Windows-1252")
        if not started and text:
            text, started = text.removeprefix("\ufeff"), True
        if text:
            yield text
        if not data:
            return


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their line numbers, line ends removed."""
    for lineno, text in enumerate(lines, 1):
        text = text.rstrip("\r\n")
        if text and not text.isspace():
            yield lineno, text


def _tab_rows(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    return ((lineno, text.split("\t")) for lineno, text in lines)


def _csv_rows(lines: Iterable[str], report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the line each starts on; an unparsable record is a problem."""
    reader = csv.reader(lines)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.rows_read += 1
            report.add_problem(start, f"unreadable CSV: {exc}")
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if row:
            yield line, row


class _JsonElements:
    """Elements of a top-level JSON array (or one top-level object), read chunk by chunk.

    Yields (line, value); raises _BrokenJsonError where the text stops being JSON.
    """

    def __init__(self, chunks: Iterator[str], name: str) -> None:
        self._chunks = chunks
        self._name = name
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # the line number at offset self._counted of self._buf
        self._counted = 0

    def __iter__(self) -> Iterator[tuple[int, object]]:
        first = self._peek()
        if not first:
            return
        if first == "{":
            yield self._value()
            return
        if first != "[":
            raise ImportFileError(f"{self._name} is not a JSON array")
        self._pos += 1
        after_comma = True
        while (char := self._peek()) != "]":
            if not char:
                raise _BrokenJsonError(self._line_at(self._pos), "the file ends inside the array")
            if after_comma:
                yield self._value()
            elif char != ",":
                raise _BrokenJsonError(
                    self._line_at(self._pos), f"expected ',' or ']', not {char!r}"
                )
            else:
                self._pos += 1
            after_comma = not after_comma

    def _value(self) -> tuple[int, object]:
        line = self._line_at(self._pos)
        while True:
            try:
                value, end = _JSON.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._eof or self._certain(exc):
                    raise _BrokenJsonError(self._line_at(exc.pos), exc.msg) from None
            else:  # a number at the end of the buffer may go on in the next chunk
                if end < len(self._buf) or self._eof or not isinstance(value, int | float):
                    self._pos = end
                    return line, value
            self._more()

    def _certain(self, exc: json.JSONDecodeError) -> bool:
        """Whether the error is in the text itself, not just at the end of the buffer."""
        if exc.msg.startswith("Unterminated string"):
            return len(self._buf) - exc.pos > _MAX_JSON_STRING
        return exc.pos < len(self._buf) - 16

    def _peek(self) -> str:
        while True:
            match = _JSON_WS.match(self._buf, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if self._eof:
                return ""
            self._more()

    def _more(self) -> None:
        """Drop what is consumed and at least double what is left (or read one chunk)."""
        self._line_at(self._pos)
        parts = [self._buf[self._pos :]]
        size, want = len(parts[0]), 2 * len(parts[0]) + 1
        for chunk in self._chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= want:
                break
        else:
            self._eof = True
        self._buf, self._pos, self._counted = "".join(parts), 0, 0

    def _line_at(self, pos: int) -> int:
        self._line += self._buf.count("\n", self._counted, pos)
        self._counted = pos
        return self._line


def _json_elements(
    stream: IO[bytes], path: Path, report: ImportReport
) -> Iterator[tuple[int, object]]:
    try:
        yield from _JsonElements(_text_chunks(stream, report), str(path))
    except _BrokenJsonError as exc:
        report.rows_read += 1
        report.add_problem(exc.line, f"invalid JSON: {exc}")
        report.warnings.append(f"stopped at line {exc.line}: the rest is not valid JSON")


def _emit(
    rows: _Rows[_T], parse: Callable[[_T], Scrobble], report: ImportReport, member: str = ""
) -> Iterator[Scrobble]:
    """Parse each row; a malformed one is counted and recorded, never fatal."""
    for line, row in rows:
        report.rows_read += 1
        try:
            scrobble = parse(row)
        except _RowError as exc:
            report.add_problem(line, str(exc), member)
            continue
        yield scrobble


# ---- row parsers --------------------------------------------------------------------------


def _ghan_csv_parser(header: list[str] | None, path: Path) -> Callable[[list[str]], Scrobble]:
    names = [name.strip().lower() for name in header] if header else list(GHAN_COLUMNS)
    missing = [name for name in ("uts", "artist", "track") if name not in names]
    if missing:
        raise ImportFileError(f"{path}: the CSV header has no {', '.join(missing)} column")
    width = len(names)
    wanted = ("uts", "artist", "track", "album", "artist_mbid", "track_mbid", "album_mbid")
    at = [names.index(name) if name in names else width for name in wanted]

    def parse(row: list[str]) -> Scrobble:
        if len(row) != width:
            raise _RowError(f"expected {width} fields, found {len(row)}")
        row.append("")  # what an absent optional column reads
        return Scrobble(
            _uts(row[at[0]], "uts", legacy_zero=True),
            _need(row[at[1]], "artist"),
            _need(row[at[2]], "track"),
            row[at[3]],
            row[at[4]],
            row[at[5]],
            row[at[6]],
        )

    return parse


def _lastexport_row(row: list[str]) -> Scrobble:
    if len(row) != 7:
        raise _RowError(f"expected 7 fields, found {len(row)}")
    uts, title, artist, album, track_mbid, artist_mbid, album_mbid = row
    return Scrobble(
        _uts(uts, "uts", legacy_zero=True),
        _need(artist, "artist"),
        _need(title, "track"),
        album,
        artist_mbid,
        track_mbid,
        album_mbid,
    )


def _scrobbler_row(row: list[str], local_time: bool) -> Scrobble:
    if len(row) not in (7, 8):
        raise _RowError(f"expected 8 fields, found {len(row)}")
    artist, album, title, _number, _duration, rating, timestamp = row[:7]
    if rating == "S":
        raise _RowError("skipped track (rating S)")
    if rating != "L":
        raise _RowError(f"rating is not L or S: {_show(rating)}")
    uts = _uts(timestamp, "timestamp")
    if local_time:
        uts = int(time.mktime((*time.gmtime(uts)[:8], -1)))
    track_mbid = row[7] if len(row) == 8 else ""
    return Scrobble(uts, _need(artist, "artist"), _need(title, "track"), album, "", track_mbid)


def _first_mbid(value: object) -> str:
    if isinstance(value, list) and value:
        return _opt(value[0])
    return _opt(value)


def _listen(listen: object) -> Scrobble:
    """A ListenBrainz listen; MBIDs from additional_info first, then mbid_mapping."""
    meta = _key(listen, "track_metadata")
    if not isinstance(meta, dict):
        raise _RowError("no track_metadata object")
    uts = _uts(_key(listen, "listened_at"), "listened_at")
    info, mapping = meta.get("additional_info"), meta.get("mbid_mapping")
    return Scrobble(
        uts,
        _need(meta.get("artist_name"), "artist_name"),
        _need(meta.get("track_name"), "track_name"),
        _opt(meta.get("release_name")),
        _first_mbid(_key(info, "artist_mbids")) or _first_mbid(_key(mapping, "artist_mbids")),
        _opt(_key(info, "recording_mbid")) or _opt(_key(mapping, "recording_mbid")),
        _opt(_key(info, "release_mbid")) or _opt(_key(mapping, "release_mbid")),
    )


def _listen_line(text: str) -> Scrobble:
    try:
        listen = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise _RowError(f"invalid JSON: {exc}") from None
    return _listen(listen)


def _label(obj: object) -> object:
    """The name in an API sub-object: `#text`, or `name` in the extended shape."""
    if isinstance(obj, dict):
        text = obj.get("#text")
        return obj.get("name") if text is None else text
    return obj


def _ghan_item(item: object) -> Scrobble:
    if not isinstance(item, dict):
        raise _RowError("not a JSON object")
    artist, album, loved = item.get("artist"), item.get("album"), item.get("loved")
    return Scrobble(
        _uts(_key(item.get("date"), "uts"), "date.uts", legacy_zero=True),
        _need(_label(artist), "artist"),
        _need(item.get("name"), "name"),
        _opt(_label(album)),
        _opt(_key(artist, "mbid")),
        _opt(item.get("mbid")),
        _opt(_key(album, "mbid")),
        int(loved) if loved in ("0", "1", 0, 1) else None,
    )


def _ghan_entry(entry: tuple[int, object]) -> Scrobble:
    index, item = entry
    try:
        return _ghan_item(item)
    except _RowError as exc:
        raise _RowError(f"track {index}: {exc}") from None


def _page_tracks(page: object) -> list[object]:
    """The track items of one page: a raw page, a full response, or a bare item."""
    if isinstance(page, dict) and "recenttracks" in page:
        page = page["recenttracks"]
    if not isinstance(page, dict):
        raise _RowError("page is not a JSON object")
    if "track" not in page and "artist" in page:
        return [page]
    tracks = page.get("track", [])
    if isinstance(tracks, dict):
        return [tracks]
    if not isinstance(tracks, list):
        raise _RowError(f"track is not a list: {_show(tracks)}")
    return tracks


def _is_now_playing(item: object) -> bool:
    nowplaying = _key(_key(item, "@attr"), "nowplaying")
    return isinstance(item, dict) and ("date" not in item or nowplaying in ("true", True))


def _ghan_tracks(
    pages: _Rows[object], report: ImportReport
) -> Iterator[tuple[int, tuple[int, object]]]:
    """(page line, (index in page, item)) for every item except now-playing ones."""
    now_playing = 0
    for line, page in pages:
        try:
            tracks = _page_tracks(page)
        except _RowError as exc:
            report.rows_read += 1
            report.add_problem(line, str(exc))
            continue
        for index, item in enumerate(tracks, 1):
            if _is_now_playing(item):
                now_playing += 1
            else:
                yield line, (index, item)
    if now_playing:
        report.warnings.append(f"left out {now_playing} now-playing item(s)")


# ---- readers, one per format --------------------------------------------------------------


def _read_ghan_csv(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    with path.open("rb") as stream:
        rows: Iterator[tuple[int, list[str]]] = _csv_rows(_lines(stream, report), report)
        first = next(rows, None)
        if first is None:
            return
        if "uts" in (name.strip().lower() for name in first[1]):
            parse = _ghan_csv_parser(first[1], path)
        else:
            parse, rows = _ghan_csv_parser(None, path), chain([first], rows)
        yield from _emit(rows, parse, report)


def _read_ghan_json(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    with path.open("rb") as stream:
        pages = _json_elements(stream, path, report)
        yield from _emit(_ghan_tracks(pages, report), _ghan_entry, report)


def _read_lastexport_tsv(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    with path.open("rb") as stream:
        rows = _tab_rows(_numbered(_lines(stream, report)))
        yield from _emit(rows, _lastexport_row, report)


def _read_scrobbler_log(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    with path.open("rb") as stream:
        lines = _numbered(_lines(stream, report))
        header: dict[str, str] = {}
        body: Iterable[tuple[int, str]] = lines
        for lineno, text in lines:
            if not text.startswith("#"):
                body = chain([(lineno, text)], lines)
                break
            key, _, value = text[1:].strip().partition("/")
            header[key.upper()] = value
        zone = header.get("TZ", "").upper()
        if zone != "UTC":
            report.warnings.append(
                f"timestamps are the player's local time (#TZ/{zone or 'missing'}):"
                f" converted with this machine's time zone ({'/'.join(time.tzname)})"
            )
        parse = partial(_scrobbler_row, local_time=zone != "UTC")
        yield from _emit(_tab_rows(body), parse, report)


def _read_listenbrainz_jsonl(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    with path.open("rb") as stream:
        yield from _emit(_numbered(_lines(stream, report)), _listen_line, report)


def _read_listenbrainz_json(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    with path.open("rb") as stream:
        yield from _emit(_json_elements(stream, path, report), _listen, report)


def _read_listenbrainz_zip(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    with _open_zip(path) as archive:
        for member in _listen_members(archive):
            yield from _read_member(archive, member, report)


def _read_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, report: ImportReport
) -> Iterator[Scrobble]:
    name = member.filename
    if member.flag_bits & 0x1:
        report.warnings.append(f"{name}: encrypted, not read")
        return
    try:
        with archive.open(member) as stream:
            rows = _numbered(_lines(stream, report, name))
            yield from _emit(rows, _listen_line, report, name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        report.warnings.append(f"{name}: damaged, the rest of it was not read: {exc}")


_READERS: dict[str, Callable[[Path, ImportReport], Iterator[Scrobble]]] = {
    "ghan-csv": _read_ghan_csv,
    "ghan-json": _read_ghan_json,
    "lastexport-tsv": _read_lastexport_tsv,
    "listenbrainz-zip": _read_listenbrainz_zip,
    "listenbrainz-jsonl": _read_listenbrainz_jsonl,
    "listenbrainz-json": _read_listenbrainz_json,
    "scrobbler-log": _read_scrobbler_log,
}
FORMATS: tuple[str, ...] = tuple(_READERS)


# ---- detection ----------------------------------------------------------------------------


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError(f"{path} is not a readable zip archive: {exc}") from exc


def _listen_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The listens/<year>/<month>.jsonl members, oldest month first."""
    found = []
    for info in archive.infolist():
        match = _LISTENS_MEMBER.search(info.filename)
        if match:
            found.append(((int(match[1]), int(match[2])), info))
    return [info for _, info in sorted(found, key=lambda pair: pair[0])]


def _has_listens(path: Path) -> bool:
    with _open_zip(path) as archive:
        return bool(_listen_members(archive))


def _read_head(path: Path) -> bytes:
    """The first bytes of the file; refuses what is not UTF-8 text or a zip."""
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEAD_BYTES)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head.startswith(_ZIP_MAGIC):
        return head
    for start, problem in _REFUSED_STARTS:
        if head.startswith(start):
            raise ImportFileError(f"{path} {problem}")
    if b"\x00" in head:
        raise ImportFileError(f"{path} is not UTF-8 text (it holds NUL bytes)")
    return head


def _looks_scrobbler_log(line: str) -> bool:
    fields = line.split("\t")
    return line.startswith("#AUDIOSCROBBLER/") or (
        len(fields) in (7, 8) and fields[5] in ("L", "S") and fields[6].isdigit()
    )


def _looks_lastexport(line: str) -> bool:
    fields = line.split("\t")
    return len(fields) == 7 and fields[0].isdigit()


def _looks_ghan_csv(line: str) -> bool:
    row = next(csv.reader([line]), [])
    names = [name.strip().lower() for name in row]
    return ("uts" in names and "artist" in names) or (len(row) == 8 and row[0].isdigit())


_LINE_SNIFFERS: tuple[tuple[Callable[[str], bool], str], ...] = (
    (_looks_scrobbler_log, "scrobbler-log"),
    (_looks_lastexport, "lastexport-tsv"),
    (_looks_ghan_csv, "ghan-csv"),
)


def _sniff_json(text: str) -> str | None:
    lb, ghan = _LB_KEY.search(text), _GHAN_KEY.search(text)
    if lb and (not ghan or lb.start() < ghan.start()):
        return "listenbrainz-json" if text.startswith("[") else "listenbrainz-jsonl"
    return "ghan-json" if ghan else None


def _sniff(head: bytes, path: Path) -> str | None:
    if head.startswith(_ZIP_MAGIC):
        if not _has_listens(path):
            raise ImportFileError(f"cannot tell the format of {path}: {_NO_LISTENS}")
        return "listenbrainz-zip"
    text = head.decode("utf-8", _REPAIR).removeprefix("\ufeff").lstrip()
    if text.startswith(("[", "{")):
        return _sniff_json(text)
    line = text.split("\n", 1)[0].rstrip("\r")
    return next((fmt for looks, fmt in _LINE_SNIFFERS if line and looks(line)), None)


def _by_name(name: str) -> str | None:
    return next((fmt for pattern, fmt in _NAME_PATTERNS if pattern.search(name)), None)


def detect_format(path: Path) -> str:
    """The format of an export file, from its content first and its name second."""
    head = _read_head(path)
    fmt = _sniff(head, path) or _by_name(path.name)
    if fmt is None:
        why = "the file is empty" if not head.strip() else "it matches no known export format"
        raise ImportFileError(f"cannot tell the format of {path}: {why}")
    return fmt


def _check_forced(path: Path, fmt: str) -> None:
    if fmt not in _READERS:
        raise ImportFileError(f"unknown import format {fmt!r}: known are {', '.join(FORMATS)}")
    is_zip = _read_head(path).startswith(_ZIP_MAGIC)
    if is_zip != (fmt == "listenbrainz-zip"):
        raise ImportFileError(f"{path} is {'a' if is_zip else 'not a'} zip archive: not {fmt}")
    if is_zip and not _has_listens(path):
        raise ImportFileError(f"{path}: {_NO_LISTENS}")


def read_export(
    path: Path, report: ImportReport | None = None, fmt: str | None = None
) -> Iterator[Scrobble]:
    """Stream the scrobbles of an export file; problems go to `report` as they are met.

    The format is checked (or detected) now, so a file that is unreadable as a whole raises
    ImportFileError here; rows are read lazily as the result is iterated.
    """
    if fmt is None:
        fmt = detect_format(path)
    else:
        _check_forced(path, fmt)
    if report is None:
        report = ImportReport(str(path), fmt)
    report.format = fmt
    return _run(_READERS[fmt], path, report)


def _run(
    reader: Callable[[Path, ImportReport], Iterator[Scrobble]], path: Path, report: ImportReport
) -> Iterator[Scrobble]:
    try:
        yield from reader(path, report)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc}") from exc
    if report.skipped_count > len(report.skipped):
        report.warnings.append(
            f"only the first {len(report.skipped)} of {report.skipped_count} problems are listed"
        )
    log.info(
        "read %s (%s): %s rows, %s skipped, %s warnings",
        path,
        report.format,
        report.rows_read,
        report.skipped_count,
        len(report.warnings),
    )
