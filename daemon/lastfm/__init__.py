"""last.fm: the API client and its pacing, the windowed backfill, the pull job and the tags job."""
