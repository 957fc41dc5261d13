"""The Analytics page: the listener's questions answered with charts (server-side SVG), each
with its numbers as a table and a CSV download; the same report as JSON for scripts.

A page view folds into the rollups what recent pulls added when that backlog is small (a few
milliseconds); a large backlog (the first fold of a big history takes seconds) is left to the
tags job, so a view never pays for it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from markupsafe import Markup

from daemon.analytics.figures import report_charts
from daemon.analytics.report import AnalyticsSettings, build_report
from daemon.web.params import optional_int_arg

bp = Blueprint("analytics", __name__)

PAGE_FOLD_LIMIT = 50_000  # scrobbles a page view may fold itself
ORDER = ("genres", "genre_years", "hours", "weekday_hour", "years", "new_artists", "months",
         "seasons", "top_artists")


def _settings() -> AnalyticsSettings:
    settings: AnalyticsSettings | None = current_app.extensions["plexfm"].analytics
    if settings is None:
        abort(404, "analytics are not configured")
    return settings


def _day(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, f"{name} must be a date like 2024-01-31")


def _year() -> int | None:
    return optional_int_arg("year", 1970, 2100)


def _report() -> dict[str, Any]:
    deps = current_app.extensions["plexfm"]
    return build_report(deps.engine, _settings(), first=_day("from"), last=_day("to"),
                        year=_year(), max_fold=PAGE_FOLD_LIMIT)


@bp.get("/analytics")
def page() -> str:
    report = _report()
    charts = report_charts(report)
    ordered = [charts[k] for k in ORDER if k in charts]
    return render_template(
        "analytics.html", report=report, charts=ordered,
        # the SVG comes from charts.py, which escapes every text it draws (names are user data)
        svg={c.key: Markup(c.svg) for c in ordered},  # noqa: S704
        tables={c.key: list(zip(c.rows, c.display_rows(), strict=True)) for c in ordered},
        args={k: request.args.get(k, "") for k in ("from", "to", "year")},
        query={k: request.args[k] for k in ("from", "to", "year") if request.args.get(k)})


@bp.get("/api/analytics")
def data() -> Response:
    return jsonify(_report())


@bp.get("/analytics/<key>.csv")
def chart_csv(key: str) -> Response:
    chart = report_charts(_report()).get(key)
    if chart is None:
        abort(404, f"no chart {key!r}")
    return Response(chart.csv(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="plexfm-{chart.key}.csv"'})
