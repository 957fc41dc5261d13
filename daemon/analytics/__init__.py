"""Listening analytics over the whole history: genres, time of day, years, seasons, exports.

- `genres`: last.fm tags -> genres (whitelist, canonical names, aliases, weight threshold);
- `localtime`: UTC seconds -> local day/hour/month in the configured zone (DST-correct);
- `rollup`: keeps the store's rollups (plays per local hour, per month and artist/track)
  current, incrementally, keyed on scrobble id;
- `views`: pure aggregates over DataFrames; `report`: reads the rollups and builds them;
- `charts`: server-side SVG (bar chart, heatmap, stacked area) with the numbers beside;
- `export`: scrobbles joined with matches and genres as CSV, Parquet or NDJSON.
"""
