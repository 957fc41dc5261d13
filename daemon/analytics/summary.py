"""A report (`report.build_report`) as a few lines for a person (`plexfm stats`)."""

from __future__ import annotations

from typing import Any

from daemon.logs import plural


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _names(rows: list[dict[str, Any]], key: str, n: int = 5) -> str:
    return ", ".join(f"{r[key]} ({r['plays']:,})" for r in rows[:n]) or "-"


def format_report(report: dict[str, Any]) -> str:
    """The report's highlights as text lines (the JSON carries everything)."""
    summary = report["summary"]
    tags = summary["tags"]
    tag_line = (f"tags:       {tags['ok']:,} artists tagged, {tags['empty']:,} without tags, "
                f"{tags['unknown']:,} unknown to last.fm, {tags['pending']:,} not asked yet")
    if report["period"] is None:
        return "\n".join([f"no dated plays of {report['user']} yet "
                          f"({summary['undated_plays']:,} undated)", tag_line])
    period = report["period"]
    genres = report["genres"]
    lines = [
        f"{report['user']}, {period['from']} to {period['to']} ({report['timezone']})",
        f"plays:      {summary['plays']:,} on {plural(summary['days_with_plays'], 'day')}, "
        f"{plural(summary['artists'], 'artist')} "
        f"(+{plural(summary['undated_plays'], 'undated play')}, in no view)",
        tag_line,
        "genres:     " + (", ".join(f"{r['genre']} {_pct(r['share'])}"
                                    for r in genres["overall"][:6]) or "-")
        + (f" (of {genres['tagged_plays']:,} plays with a genre)" if genres["overall"] else ""),
    ]
    hours = report["time_of_day"]["hours"]
    if any(h["plays"] for h in hours):
        peak = max(hours, key=lambda h: h["plays"])
        lines.append(f"peak hour:  {peak['hour']:02d}:00 ({_pct(peak['share'])} of plays)")
    for year in report["years"]:  # every year of the period, oldest first
        lines.append(
            f"{year['year']}:       {plural(year['plays'], 'play')}, "
            f"{plural(year['new_artists'], 'new artist')} "
            f"({_pct(year['new_artist_share'])}); top: {_names(year['top_artists'], 'artist', 3)}"
            + (f"; {year['top_genres'][0]['genre']}" if year["top_genres"] else ""))
    seasons = report["seasons"]["seasons"]
    lines.append("seasons:    " + ", ".join(f"{s['season']} {s['plays']:,}" for s in seasons))
    top = report["top"]
    lines.append(f"artists:    {_names(top['artists'], 'artist')}")
    lines.append("tracks:     " + ", ".join(f"{t['artist']} - {t['title']} ({t['plays']:,})"
                                              for t in top["tracks"][:3]))
    streaks = report["streaks"]
    if streaks["longest"]:
        best = streaks["longest"][0]
        current = streaks["current"]
        lines.append(f"streak:     longest {plural(best['days'], 'day')} ({best['first']} to "
                     f"{best['last']}); current "
                     f"{plural(current['days'] if current else 0, 'day')}")
    return "\n".join(lines)
