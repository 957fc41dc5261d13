"""Answers to interactive questions: one key press on a terminal, one line from a pipe.

`key()` returns one character ("" at the end of the input, which callers take as quit);
`line()` a line of text (None at the end of the input).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Protocol, TextIO


class Keys(Protocol):
    def key(self, prompt: str) -> str: ...

    def line(self, prompt: str) -> str | None: ...


class LineKeys:
    """Answers from a pipe, one per line: a line's first character is the key, and after "/"
    the rest of that line (or else the next line) is the search text."""

    def __init__(self, source: TextIO, out: TextIO, *, echo: bool = True) -> None:
        self._source = source
        self._out = out
        self._echo = echo  # show the answer read (a terminal shows what is typed itself)
        self._pending: str | None = None

    def key(self, prompt: str) -> str:
        while True:
            print(prompt, end="", file=self._out, flush=True)
            text = self._source.readline()
            if not text:
                print(file=self._out)
                return ""
            text = text.strip()
            if not text:
                self._show("")
                continue
            self._show(text[0])
            self._pending = text[1:].strip() or None
            return text[0].lower()

    def line(self, prompt: str) -> str | None:
        print(prompt, end="", file=self._out, flush=True)
        pending, self._pending = self._pending, None
        text = pending if pending is not None else self._source.readline()
        if not text:
            print(file=self._out)
            return None
        self._show(text.strip())
        return text.strip()

    def _show(self, text: str) -> None:
        if self._echo:
            print(text, file=self._out)


class TerminalKeys:
    """Answers typed on a terminal: one key press (no Enter) per question; search text is a
    line ended by Enter. Used as a context manager: the terminal stays in cbreak mode (keys
    arrive at once, unechoed; Ctrl-C still interrupts) until the end, so keys typed ahead
    are kept. Without termios (Windows) each answer is a line."""

    def __init__(self, source: TextIO, out: TextIO) -> None:
        self._source = source
        self._out = out
        self._lines = LineKeys(source, out, echo=False)
        self._saved: list[Any] | None = None

    def __enter__(self) -> TerminalKeys:
        if sys.platform != "win32":
            import termios

            self._saved = termios.tcgetattr(self._source.fileno())
            self._cbreak()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._cooked()

    def _cbreak(self) -> None:
        if sys.platform != "win32":
            import termios
            import tty

            tty.setcbreak(self._source.fileno(), termios.TCSANOW)  # TCSANOW: keep typed keys

    def _cooked(self) -> None:
        if sys.platform != "win32" and self._saved is not None:
            import termios

            termios.tcsetattr(self._source.fileno(), termios.TCSANOW, self._saved)

    def key(self, prompt: str) -> str:
        if self._saved is None:  # no POSIX terminal control: answers end with Enter
            return self._lines.key(prompt)
        while True:
            print(prompt, end="", file=self._out, flush=True)
            # one read: a key's bytes (an arrow key's escape sequence) arrive together
            char = os.read(self._source.fileno(), 32).decode(errors="replace")[:1]
            if char in ("", "\x04"):  # end of input, Ctrl-D
                print(file=self._out)
                return ""
            ignored = char in ("\r", "\n", " ", "\x1b")
            print("" if ignored else char, file=self._out)
            if not ignored:
                return char.lower()

    def line(self, prompt: str) -> str | None:
        self._cooked()  # the line is typed, shown and edited as usual
        try:
            return self._lines.line(prompt)
        finally:
            self._cbreak()
