"""Listening analytics over the whole history: genres, time of day, years, seasons, exports.

For the status page and `plexfm stats`:

    settings = report.AnalyticsSettings.from_config(config)
    data = report.build_report(engine, settings, year=2019)   # plain JSON-ready dict
    charts = figures.report_charts(data)   # name -> Chart(svg, columns, rows, .csv())

Modules:
- `genres`: last.fm tags -> genres (whitelist, canonical names, aliases, weight threshold);
- `localtime`: UTC seconds -> local day/hour/month in the configured zone (DST-correct);
- `rollup`: keeps the store's rollups current, incrementally, keyed on scrobble id;
- `period`: a period of local days cut into whole years, months and partial months;
- `report`: the views (rollups read for a period) and `build_report`; `views`: their pure
  aggregates; `summary`: a report as text lines;
- `charts`: server-side SVG (bar, column, heatmap, stacked area) with the numbers beside;
  `figures`: the page's charts built from a report;
- `export`: scrobbles joined with matches and genres as CSV, Parquet or NDJSON.
"""
