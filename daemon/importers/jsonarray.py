"""JSON exports as (position, element) pairs: a top-level array, or the array at a key of the
top-level object.

A top-level array of at most MAX_WHOLE_JSON_BYTES is split in one pass by msgspec, and with
`row_type` decoded straight into typed rows (a Spotify history file of 16,000 plays in about
20 ms); each element's line is only worked out when a problem needs it. Anything msgspec
refuses (raw control characters in strings, bytes that are not UTF-8, a truncated or too deeply
nested file, a field of an unexpected type) and anything larger is read by the streaming
parser instead, element by element, so a bad element is still just a bad row.

A pair's position is the element's line, or, on the fast path, its index: `Elements.line`
turns a position into a line either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

import msgspec

from daemon.importers import limits
from daemon.importers.jsonstream import BrokenJsonError, JsonElements
from daemon.importers.report import ImportReport
from daemon.importers.text import BOM, byte_chunks, pieces, text_chunks

_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_ANY = msgspec.json.Decoder()
_GAP = re.compile(rb"[ \t\r\n]*,?[ \t\r\n]*")


class Elements:
    """The elements of one JSON document; iterate for (position, element)."""

    def __init__(self, pairs: Iterator[tuple[int, object]], body: bytes | None = None) -> None:
        self._pairs = pairs
        self._body = body  # set on the fast path: positions are indexes into the array
        self._raws: list[msgspec.Raw] | None = None
        self._done = (0, 0, 1)  # (index, offset of that element, its line)

    def __iter__(self) -> Iterator[tuple[int, object]]:
        return self._pairs

    def line(self, position: int) -> int:
        """The line the element at `position` starts on."""
        body = self._body
        if body is None:
            return position
        if self._raws is None or position < self._done[0]:  # (problems come in order)
            self._raws = self._raws or _RAW_LIST.decode(body)
            start = _gap_end(body, body.index(b"[") + 1)
            self._done = (0, start, 1 + body.count(b"\n", 0, start))
        index, offset, line = self._done
        while index < position:
            following = _gap_end(body, offset + len(memoryview(self._raws[index])))
            line += body.count(b"\n", offset, following)
            index, offset = index + 1, following
        self._done = (index, offset, line)
        return line


def _gap_end(body: bytes, pos: int) -> int:
    """Past the blanks and the comma between two elements."""
    found = _GAP.match(body, pos)
    return found.end() if found else pos


def json_array(
    stream: IO[bytes], name: str, report: ImportReport, member: str = "",
    row_type: Any = None,
) -> Elements:
    """The elements of a top-level array (a top-level object is one element); with
    `row_type`, elements decode straight into it when the whole file allows."""
    data = stream.read(limits.MAX_WHOLE_JSON_BYTES + 1)
    if len(data) <= limits.MAX_WHOLE_JSON_BYTES:
        body = data.removeprefix(BOM)
        fast = _fast(body, row_type)
        if fast is not None:
            return Elements(enumerate(fast), body)
        chunks = pieces(data)
    else:
        chunks = byte_chunks(stream, data)
    return Elements(_guarded(_parser(chunks, name, report, member).array(), report, member))


def json_member(
    stream: IO[bytes], name: str, report: ImportReport, key: str, member: str = ""
) -> Elements:
    """The elements of the array at `key` of the top-level object, streamed."""
    parser = _parser(byte_chunks(stream), name, report, member)
    return Elements(_guarded(parser.member(key), report, member))


def _fast(body: bytes, row_type: Any) -> Iterator[Any] | None:
    """The decoded elements of a top-level array in valid UTF-8, or None to stream instead."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        if row_type is not None:
            return iter(msgspec.json.decode(body, type=list[row_type]))
        return (_ANY.decode(raw) for raw in _RAW_LIST.decode(body))
    except (msgspec.DecodeError, RecursionError):
        return None


def _parser(chunks: Iterator[bytes], name: str, report: ImportReport, member: str) -> JsonElements:
    def on_skip(line: int, reason: str) -> None:
        report.skip(line, f"JSON element {reason}", member)

    return JsonElements(text_chunks(chunks, report), name, on_skip)


def _guarded(
    elements: Iterator[tuple[int, object]], report: ImportReport, member: str
) -> Iterator[tuple[int, object]]:
    try:
        yield from elements
    except BrokenJsonError as exc:
        report.skip(exc.line, f"invalid JSON: {exc}", member)
        where = f"{member}: " if member else ""
        report.warnings.append(f"{where}stopped at line {exc.line}: the rest is not valid JSON")
