"""Migration 8: status page: plays written to Plex per track (cached)."""

from daemon.store.migrations.base import sql

NAME = "status page: plays written to Plex per track (cached)"
APPLY = sql(
    # the status page: plays written to Plex per scrobbled track, counted by the background
    # refresh of the page's counts (a join of the whole ledger: never per request)
    """CREATE TABLE track_written (
        track_id INTEGER PRIMARY KEY,
        written INTEGER NOT NULL
    )""",
    # the queue's bulk accept ("top suggestion scores at least N") as an index range
    """CREATE INDEX ix_matches_queued_top_score ON matches
        (json_extract(suggestions, '$[0][1]')) WHERE status = 'queued'""",
)
