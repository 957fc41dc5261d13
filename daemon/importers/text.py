"""Bytes to text: lines (capped in length), CSV records, and chunks for the JSON parsers.

Text must be UTF-8: a BOM is dropped, bytes that are not UTF-8 are read as Windows-1252 (old
players wrote that) with a warning. A line longer than MAX_LINE_BYTES is read in pieces,
skipped and counted, never held whole.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import IO

from daemon.importers.limits import MAX_LINE_BYTES
from daemon.importers.report import ImportReport

CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
REPAIR = "plexfm-cp1252"
_CP1252 = tuple(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))


def _read_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(_CP1252[b] for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(REPAIR, _read_as_cp1252)


def _raw_lines(stream: IO[bytes], report: ImportReport, member: str) -> Iterator[bytes]:
    """Lines as bytes; an over-long one is consumed in pieces and yields an empty line."""
    lineno = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        lineno += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(MAX_LINE_BYTES)
            report.skip(lineno, f"line longer than {MAX_LINE_BYTES:,} bytes", member)
            raw = b"\n"  # keeps the line numbers of the lines after it
        yield raw


def lines(stream: IO[bytes], report: ImportReport, member: str = "") -> Iterator[str]:
    """Decoded lines (ends kept), BOM dropped, non-UTF-8 lines read as Windows-1252."""
    raws = _raw_lines(stream, report, member)
    first = next(raws, None)
    if first is None:
        return
    repaired: list[int] = []
    for lineno, raw in enumerate(chain([first.removeprefix(BOM)], raws), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", REPAIR)
            repaired.append(lineno)
        yield text
    if repaired:
        where = f"{member}: " if member else ""
        report.warnings.append(
            f"{where}{len(repaired)} line(s) are not UTF-8 and were read as Windows-1252"
            f" (first: line {repaired[0]})"
        )


def numbered(texts: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their line numbers, line ends removed."""
    for lineno, text in enumerate(texts, 1):
        text = text.rstrip("\r\n")
        if text and not text.isspace():
            yield lineno, text


def tab_rows(texts: Iterable[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    return ((lineno, text.split("\t")) for lineno, text in texts)


def csv_rows(texts: Iterable[str], report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the line each starts on; an unparsable record is a problem."""
    reader = csv.reader(texts)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.skip(start, f"unreadable CSV: {exc}")
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if row:
            yield line, row


def byte_chunks(stream: IO[bytes], first: bytes = b"") -> Iterator[bytes]:
    """`first`, then the rest of the stream in CHUNK-sized pieces."""
    if first:
        yield first
    while data := stream.read(CHUNK):
        yield data


def pieces(data: bytes) -> Iterator[bytes]:
    """`data` in CHUNK-sized pieces."""
    return (data[at : at + CHUNK] for at in range(0, len(data), CHUNK))


def text_chunks(chunks: Iterable[bytes], report: ImportReport) -> Iterator[str]:
    """The text in chunks, BOM dropped; switches to Windows-1252 repair at the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    started = False
    for data, final in chain(((d, False) for d in chunks if d), [(b"", True)]):
        try:
            text = decoder.decode(data, final=final)
        except UnicodeDecodeError:
            pending = decoder.getstate()[0]
            decoder = codecs.getincrementaldecoder("utf-8")(REPAIR)
            text = decoder.decode(pending + data, final=final)
            report.warnings.append("some bytes are not UTF-8 and were read as Windows-1252")
        if not started and text:
            text, started = text.removeprefix("\ufeff"), True
        if text:
            yield text
