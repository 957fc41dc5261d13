"""A portable player's clock reset, seen in its log: a run of plays dated long before the rest.

A player whose battery ran flat restarts its clock at some default date (2000-01-01 is common
for Rockbox targets) and logs plays with it until the clock is set again. The log is written
in play order, so such a run shows as consecutive lines whose dates jump far away from their
neighbours and lie far before most of the log. The plays are the user's history and are kept
as dated; the user is told which lines they are, to fix or drop them.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Sequence

JUMP_SECONDS = 180 * 86_400
"""Consecutive plays further apart than this start a new run."""


def _day(uts: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(uts))


def _runs(stamps: Sequence[int]) -> list[tuple[int, int]]:
    """[start, end) index ranges of the runs between jumps."""
    runs, start = [], 0
    for i in range(1, len(stamps)):
        if abs(stamps[i] - stamps[i - 1]) > JUMP_SECONDS:
            runs.append((start, i))
            start = i
    runs.append((start, len(stamps)))
    return runs


def clock_resets(lines: Sequence[int], stamps: Sequence[int]) -> list[str]:
    """Warnings for runs of plays (lines[i] dated stamps[i], in file order) that look like a
    reset clock: dated more than JUMP_SECONDS before the median play, and fewer than half."""
    if len(stamps) < 2:
        return []
    median = sorted(stamps)[len(stamps) // 2]
    flagged = [
        (a, b) for a, b in _runs(stamps)
        if max(stamps[a:b]) < median - JUMP_SECONDS and (b - a) * 2 < len(stamps)
    ]  # fmt: skip
    if not flagged:
        return []
    inside = {i for a, b in flagged for i in range(a, b)}
    others = array("q", (s for i, s in enumerate(stamps) if i not in inside))
    warnings = []
    for a, b in flagged:
        run = stamps[a:b]
        warnings.append(
            f"lines {lines[a]}-{lines[b - 1]}: {b - a} plays dated {_day(min(run))} to"
            f" {_day(max(run))}, long before the log's other plays ({_day(min(others))} to"
            f" {_day(max(others))}): the player's clock was probably reset; they were imported"
            " with these dates (fix or remove those lines and import again to change them)"
        )
    return warnings
