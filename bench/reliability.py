"""`make reliability`: run every test marked `reliability(kind, category)` and write
docs/reliability.md, the table of bad inputs tried / handled and faults injected / survived.

    python -m bench.reliability [--out docs/reliability.md] [extra pytest arguments]

A test joins by its marker (registered in pyproject.toml), on the function, on a
`pytest.param(..., marks=...)` case, or as a module's `pytestmark`:

    @pytest.mark.reliability("input", "bad configuration")   # a bad input tried
    @pytest.mark.reliability("fault", "SIGKILL during apply")  # a fault injected

Every collected case (each parametrized case counts once) is one input tried or one fault
injected, unless the test records how many it tried in a loop
(`record_property("reliability_cases", n)`, e.g. a kill loop killing n times); it is handled /
survived only when its test passed (setup, call and teardown), and the tests themselves assert
that nothing was lost. Failures are listed and make the command
exit 1; the document is written either way. Browser tests are left out (they need Chromium).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KINDS = {"input": ("Bad inputs", "tried", "handled"),
         "fault": ("Faults", "injected", "survived")}
SELECT = "reliability and not browser"
COMMAND = "make reliability"


@dataclass
class Row:
    cases: int = 0
    passed: int = 0
    failed_cases: int = 0
    failed: list[str] = field(default_factory=list)  # the failed tests' node ids
    skipped: int = 0
    modules: set[str] = field(default_factory=set)


class Tally:
    """A pytest plugin: the reliability marker of each case, and how the case ended."""

    def __init__(self) -> None:
        self.cases: dict[str, tuple[str, str, str]] = {}  # nodeid -> (kind, category, module)
        self.outcomes: dict[str, str] = {}
        self.weights: dict[str, int] = {}  # nodeid -> cases a looping test recorded

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        wrong = []
        for item in items:
            marker = item.get_closest_marker("reliability")
            if marker is None:
                continue
            args = list(marker.args)
            if len(args) != 2 or args[0] not in KINDS or not str(args[1]).strip():
                wrong.append(f"{item.nodeid}: {marker}")
                continue
            module = item.nodeid.split("::")[0]
            self.cases[item.nodeid] = (str(args[0]), str(args[1]).strip(), module)
        if wrong:
            raise pytest.UsageError("reliability(kind, category) wants kind 'input' or "
                                    "'fault' and a category:\n" + "\n".join(wrong))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.cases:
            return
        for name, value in report.user_properties:
            if name == "reliability_cases":
                self.weights[report.nodeid] = max(1, int(str(value)))
        before = self.outcomes.get(report.nodeid)
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped and before != "failed":
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call" and before is None:
            self.outcomes[report.nodeid] = "passed"

    def rows(self) -> dict[tuple[str, str], Row]:
        table: dict[tuple[str, str], Row] = defaultdict(Row)
        for nodeid, (kind, category, module) in self.cases.items():
            row = table[(kind, category)]
            weight = self.weights.get(nodeid, 1)
            row.cases += weight
            row.modules.add(module)
            outcome = self.outcomes.get(nodeid, "not run")
            if outcome == "passed":
                row.passed += weight
            elif outcome == "skipped":
                row.skipped += weight
            else:
                row.failed_cases += weight
                row.failed.append(nodeid)
        return dict(table)


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    cpu = f"{os.cpu_count()} CPUs" + (f" ({model})" if model else "")
    return f"{platform.system()} {platform.release()}, {cpu}, Python {platform.python_version()}"


def render(table: dict[tuple[str, str], Row], seconds: float, exit_code: int) -> str:
    now = datetime.now(UTC)
    lines = [
        "# Reliability",
        "",
        "What plexfm is made to withstand, counted from its own tests: every bad input tried "
        "and every fault injected, per category. A case counts as handled (a bad input gives a "
        "clear one-line error, or the malformed item is skipped and counted) or survived (the "
        "service recovers) only when its test passed, and each test asserts that nothing was "
        "lost: the store equals the source's truth, Plex's database stays consistent, the "
        "ledger of what plexfm wrote stays whole.",
        "",
        f"Measured {now:%Y-%m-%d %H:%M} UTC on {machine()}, with `{COMMAND}` "
        f"(`python -m bench.reliability`: the tests marked `reliability`, {seconds:.0f} s; "
        f"pytest exit status {exit_code}).",
    ]
    for kind, (title, tried, handled) in KINDS.items():
        rows = sorted((cat, row) for (k, cat), row in table.items() if k == kind)
        lines += ["", f"## {title}", "",
                  f"| category | {tried} | {handled} | failed | skipped | tests |",
                  "|---|---:|---:|---:|---:|---|"]
        total = Row()
        for category, row in rows:
            modules = ", ".join(f"`{m.removeprefix('tests/')}`" for m in sorted(row.modules))
            lines.append(f"| {category} | {row.cases} | {row.passed} | {row.failed_cases} | "
                         f"{row.skipped} | {modules} |")
            total.cases += row.cases
            total.passed += row.passed
            total.skipped += row.skipped
            total.failed_cases += row.failed_cases
        lines.append(f"| **all** | **{total.cases}** | **{total.passed}** | "
                     f"**{total.failed_cases}** | **{total.skipped}** | |")
    failed = sorted(n for row in table.values() for n in row.failed)
    if failed:
        lines += ["", "## Failed", "", *(f"- `{n}`" for n in failed)]
    lines += [
        "",
        "## Adding tests",
        "",
        "A test joins this table by its marker, on the test, on one `pytest.param` case "
        "(`marks=`), or on a whole module (`pytestmark`):",
        "",
        "```python",
        '@pytest.mark.reliability("input", "bad configuration")  # a bad input tried',
        '@pytest.mark.reliability("fault", "SIGKILL during apply")  # a fault injected',
        "```",
        "",
        "Each collected case counts once; a test that tries many in a loop says how many with "
        '`record_property("reliability_cases", n)`. A new category is a new row. Then run '
        f"`{COMMAND}` and commit this file.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    args, extra = parser.parse_known_args(argv)
    tally = Tally()
    started = time.monotonic()
    code = int(pytest.main(["-q", "-p", "no:cacheprovider", "-m", SELECT, *extra],
                           plugins=[tally]))
    seconds = time.monotonic() - started
    table = tally.rows()
    if not table:
        print("no test is marked reliability(kind, category)", file=sys.stderr)
        return 1
    args.out.write_text(render(table, seconds, code), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if code == 0 and not any(row.failed for row in table.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
