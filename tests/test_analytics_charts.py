"""SVG charts: well-formed, scalable, accessible, and every piece of text escaped."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from daemon.analytics.charts import Chart, bar_chart, column_chart, esc, heatmap, stacked_area
from daemon.analytics.figures import report_charts
from daemon.analytics.genres import GenreRules
from daemon.analytics.report import AnalyticsSettings, build_report
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tags as tag_store
from daemon.store.engine import write

SVG = "{http://www.w3.org/2000/svg}"
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><svg onload="alert(1)">',
    "</text><script>x()</script><text>",
    "AC/DC & <Friends> 'quoted' \"double\"",
    "]]><!-- -->",
    "Null\x00Bell\x07Tab\tEnd\ufffe",
    "Sigur Rós 🎵 夜空",
    "=HYPERLINK(\"http://x\")",
]
CLEAN = [p.replace("\x00", "").replace("\x07", "").replace("\ufffe", "") for p in PAYLOADS]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed


def assert_safe(root: ET.Element) -> None:
    for element in root.iter():
        assert element.tag.startswith(SVG), element.tag
        assert element.tag.removeprefix(SVG) in {"svg", "title", "desc", "text", "g", "rect",
                                                 "line", "polygon"}
        assert not [a for a in element.attrib if a.lower().startswith("on")]


def texts(root: ET.Element) -> str:
    return "\n".join("".join(e.itertext()) for e in root.iter(f"{SVG}title"))


def assert_accessible(chart: Chart) -> None:
    root = parse(chart.svg)
    assert_safe(root)
    assert "width" not in root.attrib
    assert "height" not in root.attrib
    assert len(root.attrib["viewBox"].split()) == 4
    assert root.attrib["role"] == "img"
    title_id, desc_id = root.attrib["aria-labelledby"].split()
    assert root.find(f"{SVG}title").attrib["id"] == title_id  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").attrib["id"] == desc_id  # type: ignore[union-attr]


def test_bar_chart_escapes_every_label() -> None:
    chart = bar_chart("top<artists>", "Top <b>artists</b>", PAYLOADS,
                      list(range(len(PAYLOADS), 0, -1)))
    assert "<script" not in chart.svg
    assert "onload=\"" not in chart.svg
    root = parse(chart.svg)
    assert_accessible(chart)
    tooltips = texts(root)
    for clean in CLEAN:
        assert f"{clean}: " in tooltips
    assert root.find(f"{SVG}title").text == "Top <b>artists</b>"  # type: ignore[union-attr]
    assert root.attrib["aria-labelledby"] == "top-artists--title top-artists--desc"


def test_other_charts_escape_labels_and_series_names() -> None:
    for chart in (
        column_chart("c", PAYLOADS[0], PAYLOADS, [1.0] * len(PAYLOADS), desc=PAYLOADS[1]),
        heatmap("h", "t", PAYLOADS[:2], PAYLOADS[2:5], [[1, 2, 0], [0, 5, 1]]),
        stacked_area("s", "t", PAYLOADS[:3], {p: [0.1, 0.2, 0.3] for p in PAYLOADS}),
        stacked_area("one", "t", ["2020"], {PAYLOADS[0]: [1.0]}),
    ):
        assert_accessible(chart)
        assert "<script" not in chart.svg


def test_esc_drops_characters_xml_forbids() -> None:
    assert esc("a\x00b\x1fc\ud800d") == "abcd"
    assert esc('<&>"\'') == "&lt;&amp;&gt;&quot;&#x27;"


def test_csv_and_table_carry_the_numbers() -> None:
    chart = bar_chart("g", "Genres", ["rock", "=cmd", "-M-"], [0.5, 0.25, 0.25],
                      column="share", percent=True)
    assert chart.table()[0] == {"label": "rock", "share": 0.5}
    rows = list(csv.reader(io.StringIO(chart.csv())))
    assert rows == [["label", "share"], ["rock", "0.5"], ["'=cmd", "0.25"], ["'-M-", "0.25"]]
    grid = heatmap("w", "t", ["Mon", "Tue"], ["00", "01"], [[1, 2], [3, 4]])
    assert grid.rows == [("Mon", "00", 1), ("Mon", "01", 2), ("Tue", "00", 3), ("Tue", "01", 4)]


@pytest.fixture
def report(engine: Engine) -> dict[str, Any]:
    start = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp())
    plays = [Scrobble(start + i * 7919 * 60, name, f"T{i % 7}", "A")
             for i, name in enumerate(PAYLOADS * 30)]
    rules = GenreRules.build(aliases={"<script>": "<b>genre</b>"})
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(plays), "test")
        for name in PAYLOADS:
            tags = [("<script>", 100), ("rock", 50)]
            tag_store.save_answer(conn, name, "ok", "artist", tags,
                                  rules.artist_genres(name, tags), 1)
    return build_report(engine, AnalyticsSettings("alice", ZoneInfo("Europe/Berlin"), "north",
                                                  rules))


def test_report_charts_are_accessible_and_safe(report: dict[str, Any]) -> None:
    charts = report_charts(report)
    assert set(charts) == {"genres", "genre_years", "hours", "weekday_hour", "years",
                           "new_artists", "months", "seasons", "top_artists"}
    for key, chart in charts.items():
        assert chart.key == key
        assert_accessible(chart)
        assert "<script" not in chart.svg
        assert chart.rows
    assert "<b>genre< b>" in texts(parse(charts["genres"].svg))  # a tag_key: "/" is a space
    assert len(charts["weekday_hour"].rows) == 7 * 24
    assert sum(v for _d, _h, v in charts["weekday_hour"].rows) == len(PAYLOADS) * 30
    assert report_charts({"period": None}) == {}


def test_no_inline_style_the_page_policy_would_block() -> None:
    for chart in (bar_chart("b", "t", ["a"], [1]), column_chart("c", "t", ["a"], [1]),
                  heatmap("h", "t", ["Mon"], ["00"], [[1]]),
                  stacked_area("s", "t", ["2020", "2021"], {"rock": [0.5, 0.6]})):
        assert not [e for e in parse(chart.svg).iter() if "style" in e.attrib], chart.key


def test_long_labels_are_shortened_to_fit_and_kept_whole_in_the_tooltip() -> None:
    name = "A Band With A Very Long Name Indeed, And Then Some More Words"
    root = parse(bar_chart("top", "t", [name, "ABBA"], [10, 5]).svg)
    drawn = ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]
    assert any(text.endswith("\u2026") and name.startswith(text[:-1]) for text in drawn)
    assert f"{name}: 10" in texts(root)
    assert "ABBA" in drawn


def test_the_table_shows_numbers_as_the_chart_prints_them() -> None:
    chart = bar_chart("g", "Genres", ["rock", "jazz"], [0.10323423717739301, 0.5],
                      column="share", percent=True)
    assert chart.display_rows() == [("rock", "10.3%"), ("jazz", "50.0%")]
    plays = column_chart("y", "Years", ["2019", "2020"], [12345, 7])
    assert plays.display_rows() == [("2019", "12,345"), ("2020", "7")]
    shares = stacked_area("s", "t", ["2020"], {"rock": [0.25]})
    assert shares.display_rows() == [("2020", "rock", "25.0%")]
