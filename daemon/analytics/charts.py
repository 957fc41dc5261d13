"""Server-side SVG charts, each with the numbers it shows (a table, and CSV).

No external service and no script: plain SVG strings the page embeds inline. Every chart has
a viewBox and no fixed pixel size (it scales to the phone's width; the viewBox is narrow so
text stays readable there), a <title> and <desc> named by aria-labelledby, a <title> on each
bar or cell (the exact number on hover or long press), and text in currentColor (follows the
page's light or dark theme). All text is escaped: artist names and tags are user data.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.analytics.csvcells import LINE_END, formula_safe

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#999999", "#332288", "#88CCEE", "#117733")  # Okabe-Ito, then Tol: colour-blind safe
BAR = PALETTE[0]
FONT = "font-family=\"system-ui, sans-serif\" font-size=\"12\" fill=\"currentColor\""
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


def esc(text: object) -> str:
    """Text safe inside SVG/XML content and attribute values (characters XML forbids are
    dropped, markup characters and quotes escaped)."""
    return html.escape(_NOT_XML.sub("", str(text)), quote=True)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


@dataclass(frozen=True)
class Chart:
    """An SVG chart and the table of numbers it shows."""

    key: str
    title: str
    svg: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def table(self) -> list[dict[str, Any]]:
        """The numbers as rows of {column: value}."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def csv(self) -> str:
        """The numbers as CSV with a header line (text that a spreadsheet would run as a
        formula gets an apostrophe in front: analytics/csvcells.py)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=LINE_END)
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([formula_safe(v) for v in row])
        return out.getvalue()


def _svg(key: str, title: str, desc: str, width: float, height: float, body: list[str]) -> str:
    ident = _NOT_ID.sub("-", key)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'preserveAspectRatio="xMidYMid meet" style="width:100%;height:auto">'
        f'<title id="{ident}-title">{esc(title)}</title><desc id="{ident}-desc">{esc(desc)}</desc>'
        f'<text x="4" y="16" {FONT} font-weight="bold">{esc(_short(title, 52))}</text>'
        + "".join(body) + "</svg>")


def number(value: float, percent: bool = False) -> str:
    """A value as the charts print it: 12,345 or 12.3%."""
    if percent:
        return f"{value * 100:.1f}%"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def bar_chart(key: str, title: str, labels: Sequence[str], values: Sequence[float], *,
              desc: str = "", column: str = "plays", percent: bool = False) -> Chart:
    """Horizontal bars, one row per label (for names: genres, artists, seasons)."""
    width, label_w, value_w, row_h, top = 360, 118, 48, 22, 26
    peak = max(values, default=0) or 1
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row_h
        length = (width - label_w - 6 - value_w) * value / peak
        body.append(
            f'<g><title>{esc(label)}: {esc(number(value, percent))}</title>'
            f'<text x="{label_w}" y="{y + 15}" text-anchor="end" {FONT}>'
            f'{esc(_short(str(label), 18))}</text>'
            f'<rect x="{label_w + 6}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" '
            f'rx="2" fill="{BAR}"/><text x="{label_w + 10 + length:.1f}" y="{y + 15}" {FONT}>'
            f'{esc(number(value, percent))}</text></g>')
    height = top + max(len(values), 1) * row_h + 6
    return Chart(key, title, _svg(key, title, desc or title, width, height, body),
                 ("label", column), [(str(lb), v) for lb, v in zip(labels, values, strict=True)])


def column_chart(key: str, title: str, labels: Sequence[str], values: Sequence[float], *,
                 desc: str = "", column: str = "plays", percent: bool = False) -> Chart:
    """Vertical bars along an ordered axis (hours, months, years)."""
    width, height, left, right, top, bottom = 360, 200, 50, 6, 28, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(values, default=0) or 1
    band = plot_w / max(len(values), 1)
    widest = max((len(_short(str(label), 7)) for label in labels), default=1) * 7 + 6
    step = max(1, math.ceil(widest / band))
    body = [f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" {FONT}>'
            f'{esc(number(peak, percent))}</text>',
            f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {FONT}>0</text>',
            f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
            f'stroke="currentColor" stroke-opacity="0.4"/>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_h = plot_h * value / peak
        x = left + i * band
        body.append(f'<g><title>{esc(label)}: {esc(number(value, percent))}</title>'
                    f'<rect x="{x + band * 0.1:.1f}" y="{top + plot_h - bar_h:.1f}" '
                    f'width="{band * 0.8:.1f}" height="{bar_h:.1f}" fill="{BAR}"/></g>')
        if i % step == 0:
            body.append(f'<text x="{x + band / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                        f'{FONT}>{esc(_short(str(label), 7))}</text>')
    return Chart(key, title, _svg(key, title, desc or title, width, height, body),
                 ("label", column), [(str(lb), v) for lb, v in zip(labels, values, strict=True)])


def heatmap(key: str, title: str, row_labels: Sequence[str], column_labels: Sequence[str],
            matrix: Sequence[Sequence[float]], *, desc: str = "") -> Chart:
    """A grid of cells shaded by value (weekday x hour)."""
    width, left, top = 400, 36, 26
    cell = (width - left - 4) / max(len(column_labels), 1)
    height = top + len(row_labels) * cell + 34
    peak = max((v for row in matrix for v in row), default=0) or 1
    body = []
    for r, (row_label, row) in enumerate(zip(row_labels, matrix, strict=True)):
        y = top + r * cell
        body.append(f'<text x="{left - 4}" y="{y + cell * 0.7:.1f}" text-anchor="end" {FONT}>'
                    f'{esc(row_label)}</text>')
        for c, (column_label, value) in enumerate(zip(column_labels, row, strict=True)):
            shade = 0.08 + 0.92 * value / peak if value else 0.04
            colour = BAR if value else "currentColor"
            body.append(
                f'<rect x="{left + c * cell:.1f}" y="{y:.1f}" width="{cell - 1:.1f}" '
                f'height="{cell - 1:.1f}" fill="{colour}" fill-opacity="{shade:.2f}">'
                f'<title>{esc(row_label)} {esc(column_label)}: {esc(number(value))}</title>'
                f'</rect>')
    bottom = top + len(row_labels) * cell
    for c, column_label in enumerate(column_labels):
        if c % 3 == 0:
            body.append(f'<text x="{left + c * cell + cell / 2:.1f}" y="{bottom + 14:.1f}" '
                        f'text-anchor="middle" {FONT}>{esc(column_label)}</text>')
    body.append(f'<text x="{left}" y="{bottom + 30:.1f}" {FONT}>darkest: '
                f'{esc(number(peak))}</text>')
    rows = [(str(rl), str(cl), v) for rl, row in zip(row_labels, matrix, strict=True)
            for cl, v in zip(column_labels, row, strict=True)]
    return Chart(key, title, _svg(key, title, desc or title, width, height, body),
                 ("row", "column", "value"), rows)


def stacked_area(key: str, title: str, x_labels: Sequence[str],
                 series: Mapping[str, Sequence[float]], *, desc: str = "") -> Chart:
    """Shares (0-1) of several series stacked along an ordered axis, with a legend."""
    width, left, right, top, plot_h = 400, 36, 8, 28, 170
    plot_w = width - left - right
    n = len(x_labels)
    xs = [left + plot_w * i / (n - 1) for i in range(n)] if n > 1 else [left, left + plot_w]
    names = list(series) if n else []  # no point on the axis: nothing to stack
    body = [f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" {FONT}>100%</text>',
            f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {FONT}>0%</text>']
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
    step = max(1, math.ceil(n / 6))
    for i, label in enumerate(x_labels):
        if i % step == 0:
            x = xs[i] if n > 1 else (xs[0] + xs[1]) / 2
            anchor = "end" if n > 1 and i == n - 1 else "start" if n > 1 and i == 0 \
                else "middle"
            body.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="{anchor}" '
                        f'{FONT}>{esc(label)}</text>')
    legend_top = top + plot_h + 24
    for i, name in enumerate(names):
        x, y = 4 + (i % 2) * (width / 2), legend_top + (i // 2) * 18
        body.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="12" '
                    f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{x + 16:.1f}" y="{y + 10}" '
                    f'{FONT}>{esc(_short(name, 24))}</text>')
    height = legend_top + math.ceil(len(names) / 2) * 18 + 4
    rows = [(str(x), name, float(series[name][i])) for i, x in enumerate(x_labels)
            for name in names]
    return Chart(key, title, _svg(key, title, desc or title, width, height, body),
                 ("x", "series", "share"), rows)
