"""Progress of long work: a bar on a terminal, a log line every few seconds otherwise.

Numbers carry thousands separators; `close(scrobbles)` ends with the count the job's result
reports (the pages seen on the way include refetched and re-split pages), so the last
progress line and the result line agree.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from tqdm import tqdm

from daemon.logs import plural

log = logging.getLogger(__name__)


class TerminalProgress:
    """A tqdm bar of pages done / pages expected with the scrobble rate."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self._bar = tqdm(total=0, unit="page", desc=label, file=stream, dynamic_ncols=True)
        self._scrobbles = 0
        self._started = time.monotonic()

    def expect(self, pages: int) -> None:
        self._bar.total = (self._bar.total or 0) + pages
        self._bar.refresh()

    def advance(self, pages: int, scrobbles: int) -> None:
        self._scrobbles += scrobbles
        self._bar.set_postfix_str(self._postfix(), refresh=False)
        if self._bar.n + pages > (self._bar.total or 0):  # the estimate was low (partial pages)
            self._bar.total = self._bar.n + pages
        self._bar.update(pages)

    def close(self, scrobbles: int | None = None) -> None:
        """End the bar; `scrobbles`: the count the result reports (shown as the last one)."""
        if scrobbles is not None:
            self._scrobbles = scrobbles
            self._bar.total = self._bar.n  # done: every page expected is a page seen
            self._bar.set_postfix_str(self._postfix(), refresh=True)
        self._bar.close()

    def _postfix(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        return f"{plural(self._scrobbles, 'scrobble')}, {self._scrobbles / elapsed:,.0f}/s"


class LogProgress:
    """One INFO line at most every `interval` seconds, and one at the end."""

    def __init__(self, label: str, interval: float = 10.0) -> None:
        self._label = label
        self._interval = interval
        self._pages = self._expected = self._scrobbles = 0
        self._started = self._last = time.monotonic()

    def expect(self, pages: int) -> None:
        self._expected += pages

    def advance(self, pages: int, scrobbles: int) -> None:
        self._pages += pages
        self._expected = max(self._expected, self._pages)  # the estimate was low (partial pages)
        self._scrobbles += scrobbles
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._report(now)

    def close(self, scrobbles: int | None = None) -> None:
        """The last line; `scrobbles`: the count the result reports (shown instead)."""
        if scrobbles is not None:
            self._scrobbles = scrobbles
            self._expected = self._pages  # done: every page expected is a page seen
        if self._pages:
            self._report(time.monotonic())

    def _report(self, now: float) -> None:
        rate = self._scrobbles / max(now - self._started, 1e-6)
        log.info("%s: %s/%s pages, %s, %s scrobbles/s", self._label, f"{self._pages:,}",
                 f"{self._expected:,}", plural(self._scrobbles, "scrobble"), f"{rate:,.0f}")


def make_progress(label: str, stream: TextIO = sys.stderr) -> TerminalProgress | LogProgress:
    """A bar when `stream` is a terminal, log lines otherwise."""
    if stream.isatty():
        return TerminalProgress(label, stream)
    return LogProgress(label)
