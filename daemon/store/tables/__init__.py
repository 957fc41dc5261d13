"""SQLAlchemy Core tables mirroring the latest migration (a test checks they agree).

One module per concern; every table is importable from here.
"""

from daemon.store.tables.analytics import (
    albums,
    artist_genres,
    artist_tags,
    artists,
    rollup_album_total,
    rollup_album_year,
    rollup_artist_month,
    rollup_artist_total,
    rollup_artist_year,
    rollup_genre_month,
    rollup_hourly,
    rollup_state,
    rollup_track_total,
    rollup_track_year,
    tag_state,
    track_keys,
)
from daemon.store.tables.apply import (
    applied_plays,
    apply_batches,
    ledger_checks,
    plan_basis,
    plan_changes,
    plays_in_plex,
)
from daemon.store.tables.base import metadata
from daemon.store.tables.ingest import (
    imports,
    job_runs,
    scrobbles,
    scrobbles_quarantine,
    sync_state,
    sync_windows,
)
from daemon.store.tables.matching import (
    counters,
    library_tracks,
    match_history,
    matches,
    scrobble_tracks,
    scrobbled_tracks,
)
from daemon.store.tables.page import (
    library_plays,
    page_stats,
    queue_skips,
    track_written,
)
from daemon.store.tables.sources import listenbrainz_sync, merged_plays

__all__ = [
    "albums",
    "applied_plays",
    "apply_batches",
    "artist_genres",
    "artist_tags",
    "artists",
    "counters",
    "imports",
    "job_runs",
    "ledger_checks",
    "library_plays",
    "library_tracks",
    "listenbrainz_sync",
    "match_history",
    "matches",
    "merged_plays",
    "metadata",
    "page_stats",
    "plan_basis",
    "plan_changes",
    "plays_in_plex",
    "queue_skips",
    "rollup_album_total",
    "rollup_album_year",
    "rollup_artist_month",
    "rollup_artist_total",
    "rollup_artist_year",
    "rollup_genre_month",
    "rollup_hourly",
    "rollup_state",
    "rollup_track_total",
    "rollup_track_year",
    "scrobble_tracks",
    "scrobbled_tracks",
    "scrobbles",
    "scrobbles_quarantine",
    "sync_state",
    "sync_windows",
    "tag_state",
    "track_keys",
    "track_written",
]
