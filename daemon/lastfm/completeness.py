"""When a window's pages make it complete, and what to fetch again when they do not.

A window is a half-open range [start, end) of Unix seconds. Its pages are complete when every
page but the last holds a full page of items, every scrobble lies inside the window, no page
reported another total, and the items add up to that total. Items the parser skipped (a
malformed item, a time outside the storable range) count as items here: last.fm served them
and counts them, so skipping them neither leaves the window incomplete nor asks for it again.
These are pure decisions; `windows.WindowSync` fetches and stores.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from daemon.lastfm.pages import RecentTracksPage
from daemon.logs import local_time
from daemon.scrobble import Scrobble

MAX_WINDOW_ATTEMPTS = 4


@dataclass(frozen=True)
class Window:
    start: int
    end: int

    def __str__(self) -> str:
        """For a person (logs, errors): both ends in local time, as every log line says an
        instant (`daemon.logs.local_time`); the end is exclusive."""
        return f"{local_time(self.start)} to {local_time(self.end)}"


@dataclass
class WindowState:
    """A window being fetched: its pages so far and how often it was fetched again."""

    window: Window
    generation: int = 0
    attempts: int = 0
    total: int | None = None
    total_pages: int = 0
    next_page: int = 2
    pages: dict[int, RecentTracksPage] = field(default_factory=dict)
    problem: str | None = None
    counted: bool = False  # its pages are already in the progress estimate

    def first_page(self, result: RecentTracksPage, limit: int) -> None:
        """Start over from page 1: its total decides how many pages follow."""
        self.total = result.total
        self.total_pages = max(1, math.ceil(result.total / limit))
        self.pages = {1: result}
        self.next_page = 2

    def later_page(self, number: int, result: RecentTracksPage) -> bool:
        """Record page `number`; True when every page is in."""
        self.pages[number] = result
        if result.total != self.total:
            self.problem = f"total changed from {self.total} to {result.total} on page {number}"
        return len(self.pages) == self.total_pages

    def items(self) -> tuple[list[Scrobble], int]:
        """Every scrobble of the window in page order, and how many items were skipped."""
        items: list[Scrobble] = []
        skipped = 0
        for number in sorted(self.pages):
            items.extend(self.pages[number].scrobbles)
            skipped += self.pages[number].skipped
        return items, skipped


def verify(state: WindowState, limit: int) -> str | None:
    """Why the window's pages do not make it complete, or None when they do."""
    if state.problem:
        return state.problem
    window = state.window
    seen = 0
    for number in range(1, state.total_pages + 1):
        page = state.pages[number]
        count = len(page.scrobbles) + page.skipped
        if number < state.total_pages and count != limit:
            return f"page {number} of {state.total_pages} held {count} items"
        seen += count
        if any(not window.start <= s.uts < window.end for s in page.scrobbles):
            return f"page {number} held a scrobble outside the window"
    if seen != state.total:
        return f"pages held {seen} items, total says {state.total}"
    return None


def again(state: WindowState) -> list[WindowState]:
    """What to fetch after a failed check, newest first: the window again or, from its second
    failure on, its two halves, so a quiet half completes while only the part where
    scrobbles keep arriving is retried. The halves inherit the attempts: splitting stays
    within the retry budget."""
    state.attempts += 1
    window = state.window
    if state.attempts >= 2 and window.end - window.start > 1:
        middle = (window.start + window.end) // 2
        return [WindowState(Window(middle, window.end), attempts=state.attempts, counted=True),
                WindowState(Window(window.start, middle), attempts=state.attempts,
                            counted=True)]
    state.generation += 1
    state.total = None
    state.pages = {}
    state.problem = None
    state.next_page = 2
    return [state]


@dataclass(frozen=True)
class Split:
    """A window too large for one go: the complete newest part of its first page (stored at
    once, so no request is wasted) and the rest cut in time, newest first."""

    stored: tuple[Window, list[Scrobble]] | None
    pieces: list[Window]


def split(window: Window, first: RecentTracksPage, limit: int, window_items: int) -> Split:
    """Cut `window`, whose first page is `first`, into pieces of about `window_items`."""
    items = first.scrobbles
    full = len(items) + first.skipped == limit
    oldest = items[-1].uts if items and full else None
    stored = None
    rest_end = window.end
    if oldest is not None and oldest + 1 < window.end:
        # the oldest second of the page may continue on page 2: leave it to the rest
        stored = (Window(oldest + 1, window.end), [s for s in items if s.uts > oldest])
        rest_end = oldest + 1
    remaining = max(1, (first.total - len(items)) if oldest is not None else first.total)
    span = rest_end - window.start
    parts = min(max(2, math.ceil(remaining / window_items)), span)
    bounds = [window.start + (span * i) // parts for i in range(parts + 1)]
    pieces = [Window(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    return Split(stored, pieces[::-1])
