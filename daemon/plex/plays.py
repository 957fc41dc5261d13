"""The values the Plex writer takes and returns (no I/O): a play to write, a row to remove,
an apply's result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class PlayToWrite(NamedTuple):
    """One scrobble to insert as a Plex history row (a NamedTuple: a million are built per
    large apply, ten times faster than a frozen dataclass). The writer takes any
    (key, rating_key, viewed_at) tuples (`Play`): a plain tuple from zip() is cheaper still."""

    key: int  # caller's id for this play (our scrobble id), echoed back
    rating_key: int  # metadata_items.id of the track
    viewed_at: int  # epoch seconds (UTC)


class PlayToRemove(NamedTuple):
    """The fingerprint of a history row we wrote: it is deleted only if the row with this id
    still has exactly this guid and time (and the writer's account, metadata_type track)."""

    view_id: int
    guid: str
    viewed_at: int  # epoch seconds (UTC), as given to PlayToWrite


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
    guids: dict[int, str] = field(default_factory=dict)  # rating_key -> guid written

    def removable(self, plays: Iterable[Play]) -> list[PlayToRemove]:
        """The fingerprints of the rows written for ``plays`` (which must be among this
        apply's), to remove them again."""
        return [PlayToRemove(self.inserted[key], self.guids[rating_key], viewed_at)
                for key, rating_key, viewed_at in plays]
