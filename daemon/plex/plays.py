"""The values the Plex writer takes and returns (no I/O): a play to write, an apply's result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


class PlayToWrite(NamedTuple):
    """One scrobble to insert as a Plex history row (a NamedTuple: a million are built per
    large apply, ten times faster than a frozen dataclass). The writer takes any
    (key, rating_key, viewed_at) tuples (`Play`): a plain tuple from zip() is cheaper still."""

    key: int  # caller's id for this play (our scrobble id), echoed back
    rating_key: int  # metadata_items.id of the track
    viewed_at: int  # epoch seconds (UTC)


Play = tuple[int, int, int]
"""(key, rating_key, viewed_at), as in `PlayToWrite`."""


@dataclass(frozen=True)
class WriteResult:
    """What one `PlexDatabaseWriter.apply` did (or, for a dry run, would have done)."""

    inserted: dict[int, int]  # key -> metadata_item_views.id created
    deleted: list[int]  # view ids deleted
    touched_tracks: int  # settings rows updated or created
    backup: Path | None
    timestamp_mode: str  # "integer" or "legacy-string"
