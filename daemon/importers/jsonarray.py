"""JSON exports as (line, element) pairs: a top-level array, or the array at a key of the
top-level object.

A top-level array of at most MAX_WHOLE_JSON_BYTES is split in one pass by msgspec (a Spotify
history file of 15,000 plays in a few milliseconds) and each element decoded on its own, so a
bad element is still just a bad row. Anything msgspec refuses (raw control characters in
strings, bytes that are not UTF-8, a truncated or too deeply nested file) and anything larger
is read by the streaming parser instead, which also knows where a broken file stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import msgspec

from daemon.importers import limits
from daemon.importers.jsonstream import BrokenJsonError, JsonElements
from daemon.importers.report import ImportReport
from daemon.importers.text import BOM, byte_chunks, pieces, text_chunks

_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_ANY = msgspec.json.Decoder()

Elements = Iterator[tuple[int, object]]


def json_array(stream: IO[bytes], name: str, report: ImportReport, member: str = "") -> Elements:
    """The elements of a top-level array (a top-level object is one element)."""
    data = stream.read(limits.MAX_WHOLE_JSON_BYTES + 1)
    if len(data) <= limits.MAX_WHOLE_JSON_BYTES:
        body = data.removeprefix(BOM)
        raws = _split(body)
        if raws is not None:
            yield from _with_lines(body, raws, report, member)
            return
        chunks = pieces(data)
    else:
        chunks = byte_chunks(stream, data)
    parser = _parser(chunks, name, report, member)
    yield from _guarded(parser.array(), report, member)


def json_member(
    stream: IO[bytes], name: str, report: ImportReport, key: str, member: str = ""
) -> Elements:
    """The elements of the array at `key` of the top-level object, streamed."""
    parser = _parser(byte_chunks(stream), name, report, member)
    yield from _guarded(parser.member(key), report, member)


def _parser(chunks: Iterator[bytes], name: str, report: ImportReport, member: str) -> JsonElements:
    def on_skip(line: int, reason: str) -> None:
        report.skip(line, f"JSON element {reason}", member)

    return JsonElements(text_chunks(chunks, report), name, on_skip)


def _guarded(elements: Elements, report: ImportReport, member: str) -> Elements:
    try:
        yield from elements
    except BrokenJsonError as exc:
        report.skip(exc.line, f"invalid JSON: {exc}", member)
        where = f"{member}: " if member else ""
        report.warnings.append(f"{where}stopped at line {exc.line}: the rest is not valid JSON")


def _split(body: bytes) -> list[msgspec.Raw] | None:
    """The elements of a top-level array in valid UTF-8, or None (then the file is streamed)."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        return _RAW_LIST.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None


def _with_lines(
    data: bytes, raws: list[msgspec.Raw], report: ImportReport, member: str
) -> Elements:
    """Each element decoded, with the line it starts on (found in order, never re-scanned)."""
    pos, counted, line = 0, 0, 1
    for raw in raws:
        text = bytes(memoryview(raw))
        start = data.find(text, pos)
        line += data.count(b"\n", counted, start)
        counted, pos = start, start + len(text)
        try:
            value = _ANY.decode(text)
        except (msgspec.DecodeError, RecursionError) as exc:
            report.skip(line, f"invalid JSON: {exc}", member)
            continue
        yield line, value
