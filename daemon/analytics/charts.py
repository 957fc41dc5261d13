"""Server-side SVG charts, each with the numbers it shows (a table, and CSV).

No external service and no script: plain SVG strings the page embeds inline. Every chart has
a viewBox WIDTH wide and no size or style of its own (the page's stylesheet sizes it to its
card: an inline style would be blocked by the page's Content-Security-Policy), a <title> and
<desc> named by aria-labelledby (the page shows the title as a heading), a <title> on each bar
or cell (the exact number on hover or long press), and text in currentColor (follows the
page's light or dark theme). Text is laid out for FONT_SIZE, the largest size the page draws
it at, so a label never runs out of its chart; a name longer than its room is shortened with
an ellipsis (whole in its tooltip and in the table). All text is escaped: artist names and
tags are user data.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.analytics.csvcells import LINE_END, formula_safe

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#999999", "#332288", "#88CCEE", "#117733")  # Okabe-Ito, then Tol: colour-blind safe
BAR = PALETTE[0]
WIDTH = 400  # every chart's viewBox width: the page scales it to its card
FONT_SIZE = 15  # in viewBox units; the page's stylesheet picks a size <= this per card width
FONT = (f'font-family="system-ui, sans-serif" font-size="{FONT_SIZE}" fill="currentColor" '
        'dominant-baseline="central"')
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")
_NARROW = frozenset(" .,:;'!|ijlI()[]/")


def esc(text: object) -> str:
    """Text safe inside SVG/XML content and attribute values (characters XML forbids are
    dropped, markup characters and quotes escaped)."""
    return html.escape(_NOT_XML.sub("", str(text)), quote=True)


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """A generous estimate of `text`'s drawn width at `size` (wide fonts, capitals, CJK)."""
    ems = 0.0
    for char in text:
        if unicodedata.east_asian_width(char) in "WF":
            ems += 1.05
        elif char in _NARROW:
            ems += 0.36
        elif char in "%@mwMW":
            ems += 1.0
        elif char.isupper() or char == "&":
            ems += 0.84
        else:
            ems += 0.64
    return ems * size


def fit(text: str, room: float) -> str:
    """`text`, or its longest start that fits `room` with an ellipsis."""
    if text_width(text) <= room:
        return text
    for end in range(len(text) - 1, 0, -1):
        short = text[:end].rstrip() + "\u2026"
        if text_width(short) <= room:
            return short
    return "\u2026"


def number(value: float, percent: bool = False) -> str:
    """A value as the charts print it: 12,345 or 12.3%."""
    if percent:
        return f"{value * 100:.1f}%"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


@dataclass(frozen=True)
class Chart:
    """An SVG chart and the table of numbers it shows."""

    key: str
    title: str
    svg: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    percent: tuple[str, ...] = ()  # columns holding shares (0-1), printed as percentages

    def table(self) -> list[dict[str, Any]]:
        """The numbers as rows of {column: value}."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def display_rows(self) -> list[tuple[str, ...]]:
        """The rows as the chart prints them (12,345 and 10.3%), for the page's table."""
        return [tuple(number(v, c in self.percent) if isinstance(v, int | float) else str(v)
                      for c, v in zip(self.columns, row, strict=True)) for row in self.rows]

    def csv(self) -> str:
        """The numbers as CSV with a header line (text that a spreadsheet would run as a
        formula gets an apostrophe in front: analytics/csvcells.py)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=LINE_END)
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([formula_safe(v) for v in row])
        return out.getvalue()


def _svg(key: str, title: str, desc: str, height: float, body: list[str]) -> str:
    ident = _NOT_ID.sub("-", key)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:g}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="{ident}-title">{esc(title)}</title><desc id="{ident}-desc">{esc(desc)}</desc>'
        + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT}{extra}>'
            f'{esc(text)}</text>')


def bar_chart(key: str, title: str, labels: Sequence[str], values: Sequence[float], *,
              desc: str = "", column: str = "plays", percent: bool = False) -> Chart:
    """Horizontal bars, one row per label (for names: genres, artists, seasons)."""
    row_h, gap = 26, 6
    shown = [number(v, percent) for v in values]
    label_w = min(max((text_width(str(lb)) for lb in labels), default=0), WIDTH * 0.45)
    value_w = max((text_width(s) for s in shown), default=0)
    room = WIDTH - label_w - value_w - 3 * gap
    peak = max(values, default=0) or 1
    body = []
    for i, (label, value, text) in enumerate(zip(labels, values, shown, strict=True)):
        middle = i * row_h + row_h / 2
        length = room * value / peak
        body.append(
            f'<g><title>{esc(label)}: {esc(text)}</title>'
            + _text(label_w, middle, fit(str(label), label_w), "end")
            + f'<rect x="{label_w + gap:.1f}" y="{middle - 8:.1f}" width="{length:.1f}" '
            f'height="16" rx="2" fill="{BAR}"/>'
            + _text(label_w + 2 * gap + length, middle, text) + "</g>")
    height = max(len(values), 1) * row_h
    return Chart(key, title, _svg(key, title, desc or title, height, body),
                 ("label", column), [(str(lb), v) for lb, v in zip(labels, values, strict=True)],
                 (column,) if percent else ())


def _x_labels(labels: Sequence[str], xs: Sequence[float], spacing: float,
              y: float) -> list[str]:
    """Every step-th label centred under its x, as many as fit side by side."""
    widest = max((text_width(str(lb)) for lb in labels), default=0)
    step = max(1, math.ceil((widest + 8) / max(spacing, 1)))
    return [_text(x, y, str(label), "middle")
            for i, (label, x) in enumerate(zip(labels, xs, strict=True)) if i % step == 0]


def column_chart(key: str, title: str, labels: Sequence[str], values: Sequence[float], *,
                 desc: str = "", column: str = "plays", percent: bool = False) -> Chart:
    """Vertical bars along an ordered axis (hours, months, years)."""
    peak = max(values, default=0) or 1
    top, plot_h = FONT_SIZE, 150
    left = text_width(number(peak, percent)) + 8
    last = text_width(str(labels[-1])) if labels else 0
    band = (WIDTH - left - 2) / max(len(values), 1)
    band = min(band, (WIDTH - left - last / 2 - 2) / max(len(values) - 0.5, 0.5))
    body = [_text(left - 6, top, number(peak, percent), "end"),
            _text(left - 6, top + plot_h, "0", "end"),
            f'<line x1="{left:.1f}" y1="{top + plot_h}" x2="{left + band * len(values):.1f}" '
            f'y2="{top + plot_h}" stroke="currentColor" stroke-opacity="0.4"/>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_h = plot_h * value / peak
        body.append(f'<g><title>{esc(label)}: {esc(number(value, percent))}</title>'
                    f'<rect x="{left + i * band + band * 0.1:.1f}" y="{top + plot_h - bar_h:.1f}" '
                    f'width="{band * 0.8:.1f}" height="{bar_h:.1f}" fill="{BAR}"/></g>')
    xs = [left + (i + 0.5) * band for i in range(len(labels))]
    body += _x_labels(labels, xs, band, top + plot_h + FONT_SIZE)
    return Chart(key, title, _svg(key, title, desc or title, top + plot_h + 2 * FONT_SIZE,
                                  body),
                 ("label", column), [(str(lb), v) for lb, v in zip(labels, values, strict=True)],
                 (column,) if percent else ())


def heatmap(key: str, title: str, row_labels: Sequence[str], column_labels: Sequence[str],
            matrix: Sequence[Sequence[float]], *, desc: str = "") -> Chart:
    """A grid of cells shaded by value (weekday x hour)."""
    label_w = max((text_width(str(lb)) for lb in row_labels), default=0)
    left, top = label_w + 8, FONT_SIZE * 0.6
    cell = (WIDTH - left - 2) / max(len(column_labels), 1)
    peak = max((v for row in matrix for v in row), default=0) or 1
    body = []
    for r, (row_label, row) in enumerate(zip(row_labels, matrix, strict=True)):
        y = top + r * cell
        body.append(_text(left - 6, y + cell / 2, fit(str(row_label), label_w), "end"))
        for c, (column_label, value) in enumerate(zip(column_labels, row, strict=True)):
            shade = 0.08 + 0.92 * value / peak if value else 0.04
            colour = BAR if value else "currentColor"
            body.append(
                f'<rect x="{left + c * cell:.1f}" y="{y:.1f}" width="{cell - 1:.1f}" '
                f'height="{cell - 1:.1f}" fill="{colour}" fill-opacity="{shade:.2f}">'
                f'<title>{esc(row_label)} {esc(column_label)}: {esc(number(value))}</title>'
                f'</rect>')
    bottom = top + len(row_labels) * cell
    xs = [left + c * cell + cell / 2 for c in range(len(column_labels))]
    body += _x_labels(column_labels, xs, cell, bottom + FONT_SIZE)
    body.append(_text(left, bottom + 2.6 * FONT_SIZE, f"darkest: {number(peak)}"))
    rows = [(str(rl), str(cl), v) for rl, row in zip(row_labels, matrix, strict=True)
            for cl, v in zip(column_labels, row, strict=True)]
    return Chart(key, title, _svg(key, title, desc or title, bottom + 3.4 * FONT_SIZE, body),
                 ("row", "column", "value"), rows)


def stacked_area(key: str, title: str, x_labels: Sequence[str],
                 series: Mapping[str, Sequence[float]], *, desc: str = "") -> Chart:
    """Shares (0-1) of several series stacked along an ordered axis, with a legend."""
    top, plot_h = FONT_SIZE, 170
    left = text_width("100%") + 8
    edge = text_width(str(x_labels[-1])) / 2 + 2 if x_labels else 2
    plot_w = WIDTH - left - edge
    n = len(x_labels)
    xs = [left + plot_w * i / (n - 1) for i in range(n)] if n > 1 else [left, left + plot_w]
    names = list(series) if n else []  # no point on the axis: nothing to stack
    body = [_text(left - 6, top, "100%", "end"), _text(left - 6, top + plot_h, "0%", "end")]
    base = [0.0] * n
    for i, name in enumerate(names):
        values = list(series[name])
        upper = [b + v for b, v in zip(base, values, strict=True)]
        lower_pts, upper_pts = (base, upper) if n > 1 else (base * 2, upper * 2)
        points = [(x, top + plot_h * (1 - u)) for x, u in zip(xs, upper_pts, strict=True)]
        points += [(x, top + plot_h * (1 - b))
                   for x, b in reversed(list(zip(xs, lower_pts, strict=True)))]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        share_text = ", ".join(f"{lb} {number(v, True)}"
                               for lb, v in zip(x_labels, values, strict=True))
        body.append(f'<polygon points="{path}" fill="{PALETTE[i % len(PALETTE)]}">'
                    f'<title>{esc(name)}: {esc(share_text)}</title></polygon>')
        base = upper
    label_xs = xs if n > 1 else [(xs[0] + xs[1]) / 2][:n]
    body += _x_labels(x_labels, label_xs, plot_w / max(n - 1, 1), top + plot_h + FONT_SIZE)
    legend_top, column_w = top + plot_h + 2.4 * FONT_SIZE, (WIDTH - 4) / 2
    for i, name in enumerate(names):
        x, y = 2 + (i % 2) * column_w, legend_top + (i // 2) * (FONT_SIZE + 7)
        body.append(f'<rect x="{x:.1f}" y="{y - 6:.1f}" width="12" height="12" '
                    f'fill="{PALETTE[i % len(PALETTE)]}"/>'
                    + _text(x + 17, y, fit(name, column_w - 22)))
    height = legend_top + math.ceil(len(names) / 2) * (FONT_SIZE + 7)
    rows = [(str(x), name, float(series[name][i])) for i, x in enumerate(x_labels)
            for name in names]
    return Chart(key, title, _svg(key, title, desc or title, height, body),
                 ("x", "series", "share"), rows, ("share",))
