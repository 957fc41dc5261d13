"""A streaming JSON reader: the elements of a top-level array (or of an array inside the
top-level object), read chunk by chunk so memory stays flat however long the file is.

An element larger than MAX_ELEMENT_BYTES, or nested too deeply for the parser, is skipped
(scanned to its end without being held whole) and reported through `on_skip`; the elements
after it are still read. Where the text stops being JSON, `BrokenJsonError` says the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

from daemon.errors import ImportFileError
from daemon.importers import limits

_JSON = json.JSONDecoder(strict=False)  # tolerate raw tabs and newlines in strings
_WS = re.compile(r"[ \t\n\r]*")
_TOKEN = re.compile(r'["\[\]{}]')
_STRING_END = re.compile(r'["\\]')
_SCALAR = re.compile(r"[-+.0-9A-Za-z]*")
_MAX_UNTERMINATED = 1 << 22  # an open string this long is a broken file, not a long string


class BrokenJsonError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class JsonElements:
    """Yields (line, value) for each element; `on_skip(line, reason)` hears of skipped ones."""

    def __init__(
        self, chunks: Iterator[str], name: str, on_skip: Callable[[int, str], None]
    ) -> None:
        self._chunks = chunks
        self._name = name
        self._on_skip = on_skip
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # the line number at offset self._counted of self._buf
        self._counted = 0

    def array(self) -> Iterator[tuple[int, object]]:
        """Elements of a top-level array; a top-level object is yielded as the one element."""
        first = self._peek()
        if not first:
            return
        if first == "{":
            yield from self._one()
            return
        if first != "[":
            raise ImportFileError(f"{self._name} is not a JSON array")
        yield from self._elements()

    def member(self, key: str) -> Iterator[tuple[int, object]]:
        """Elements of the array at `key` of the top-level object (other members skipped)."""
        first = self._peek()
        if not first:
            return
        if first != "{":
            raise ImportFileError(f"{self._name} is not a JSON object")
        self._pos += 1
        after_comma = True
        while (char := self._peek()) != "}":
            if not char:
                raise BrokenJsonError(self._line_at(self._pos), "the file ends inside the object")
            if not after_comma:
                self._expect(",", char)
            else:
                _line, name = self._decode()
                if self._peek() != ":":
                    raise BrokenJsonError(self._line_at(self._pos), "expected ':'")
                self._pos += 1
                if self._peek() == "[" and name == key:
                    yield from self._elements()
                else:
                    for _ in self._one():
                        pass
            after_comma = not after_comma

    def _elements(self) -> Iterator[tuple[int, object]]:
        self._pos += 1  # the "["
        after_comma = True
        while (char := self._peek()) != "]":
            if not char:
                raise BrokenJsonError(self._line_at(self._pos), "the file ends inside the array")
            if after_comma:
                yield from self._one()
            else:
                self._expect(",", char)
            after_comma = not after_comma
        self._pos += 1

    def _expect(self, wanted: str, char: str) -> None:
        if char != wanted:
            raise BrokenJsonError(self._line_at(self._pos), f"expected {wanted!r}, not {char!r}")
        self._pos += 1

    def _one(self) -> Iterator[tuple[int, object]]:
        """The value at the cursor, or nothing when it had to be skipped."""
        line = self._line_at(self._pos)
        try:
            yield self._decode()
        except RecursionError:
            self._skip_value()
            self._on_skip(line, "nested too deeply")
        except _TooLargeError:
            self._skip_value()
            self._on_skip(line, f"larger than {limits.MAX_ELEMENT_BYTES:,} bytes")

    def _decode(self) -> tuple[int, object]:
        line = self._line_at(self._pos)
        while True:
            try:
                value, end = _JSON.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._eof or self._certain(exc):
                    raise BrokenJsonError(self._line_at(exc.pos), exc.msg) from None
            else:  # a number at the end of the buffer may go on in the next chunk
                if end < len(self._buf) or self._eof or not isinstance(value, int | float):
                    self._pos = end
                    return line, value
            if len(self._buf) - self._pos > limits.MAX_ELEMENT_BYTES:
                raise _TooLargeError
            self._more()

    def _certain(self, exc: json.JSONDecodeError) -> bool:
        """Whether the error is in the text itself, not just at the end of the buffer."""
        if exc.msg.startswith("Unterminated string"):
            return len(self._buf) - exc.pos > _MAX_UNTERMINATED
        return exc.pos < len(self._buf) - 16

    def _skip_value(self) -> None:
        """Move the cursor past the value starting at it, reading on as needed."""
        if self._peek() not in '[{"':  # a scalar: letters, digits, signs, dots
            while (end := _scalar_end(self._buf, self._pos)) == len(self._buf):
                if self._eof:
                    break
                self._pos = end
                self._more()
            self._pos = end
            return
        depth, in_string, pos = 0, False, self._pos
        while True:
            if pos >= len(self._buf):
                if self._eof:
                    raise BrokenJsonError(self._line_at(len(self._buf)), "the file ends early")
                self._pos = len(self._buf)
                self._more()
                pos = self._pos
                continue
            found = (_STRING_END if in_string else _TOKEN).search(self._buf, pos)
            if found is None:
                pos = len(self._buf)
                continue
            char, pos = found[0], found.end()
            if char == "\\":
                if pos >= len(self._buf) and not self._eof:
                    self._pos = found.start()
                    self._more()
                    pos = self._pos
                else:
                    pos += 1
                continue
            if char == '"':
                in_string = not in_string
            else:
                depth += 1 if char in "[{" else -1
            if depth == 0 and not in_string:
                self._pos = pos
                return

    def _peek(self) -> str:
        while True:
            match = _WS.match(self._buf, self._pos)
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


class _TooLargeError(Exception):
    pass


def _scalar_end(text: str, pos: int) -> int:
    found = _SCALAR.match(text, pos)
    return found.end() if found else pos
