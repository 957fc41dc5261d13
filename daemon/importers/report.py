"""What reading one file did, and how a row becomes a scrobble, a problem or a left-out row.

A row is *skipped* when it is malformed (counted, with its line number: a problem) and *left
out* when it is well formed but not a play by the format's rules (a podcast, a play shorter
than 30 s, a love event): left-out rows are counted by reason, not listed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from daemon.importers.limits import MAX_PROBLEMS
from daemon.scrobble import Scrobble

_T = TypeVar("_T")
Rows = Iterable[tuple[int, _T]]
"""(1-based line number, row) pairs."""


class RowError(Exception):
    """This row is malformed; the message is the one-line reason."""


class LeftOut(Exception):  # noqa: N818 - an outcome, not an error
    """This row is well formed but not a play; the message is the reason (counted)."""


@dataclass(frozen=True)
class ImportProblem:
    """One skipped row."""

    line: int
    reason: str
    member: str = ""


@dataclass
class ImportReport:
    """Rows read, rows skipped (the first MAX_PROBLEMS kept), rows left out, warnings.

    `now` is the clock reading every timestamp is checked against (0 < uts <= now + 1 day).
    """

    path: str
    format: str
    now: float = field(default_factory=time.time)
    rows_read: int = 0
    skipped: list[ImportProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_count: int = 0
    left_out: Counter[str] = field(default_factory=Counter)

    @property
    def imported(self) -> int:
        """Rows that became scrobbles."""
        return self.rows_read - self.skipped_count

    def add_problem(self, line: int, reason: str, member: str = "") -> None:
        """Count a skipped row; keep its details while fewer than MAX_PROBLEMS are kept."""
        self.skipped_count += 1
        if len(self.skipped) < MAX_PROBLEMS:
            self.skipped.append(ImportProblem(line, reason, member))

    def skip(self, line: int, reason: str, member: str = "") -> None:
        """A row that could not even be split into fields: read and skipped at once."""
        self.rows_read += 1
        self.add_problem(line, reason, member)

    def finish(self) -> None:
        """Turn the left-out counts and a capped problem list into warnings (once, at the end)."""
        for reason, count in sorted(self.left_out.items()):
            self.warnings.append(f"left out {count:,} {reason}")
        self.left_out.clear()
        if self.skipped_count > len(self.skipped):
            self.warnings.append(
                f"only the first {len(self.skipped)} of {self.skipped_count} problems are listed"
            )


def emit(
    rows: Rows[_T],
    parse: Callable[[_T], Scrobble],
    report: ImportReport,
    member: str = "",
    locate: Callable[[int], int] | None = None,
) -> Iterator[Scrobble]:
    """Parse each row; a malformed one is recorded, a left-out one counted, neither is fatal.

    A row's position is its line, unless `locate` turns it into one (worked out only for the
    rows that need it)."""
    for position, row in rows:
        try:
            scrobble = parse(row)
        except LeftOut as why:
            report.left_out[str(why)] += 1
            continue
        except RowError as exc:
            report.skip(locate(position) if locate else position, str(exc), member)
            continue
        report.rows_read += 1
        yield scrobble
