"""What a read-only view of a Plex music library yields, whatever it reads from.

`LibraryTrack` is one track with the album and artist facts the matcher needs; a
`LibrarySource` lists every non-deleted track of one music section. Two sources implement it
and give identical records for the same library (tests compare them field by field):

* `daemon.plex.library_db.DatabaseLibrary` reads Plex's SQLite file, read-only;
* `daemon.plex.library_http.HttpLibrary` asks the server through plexapi.

Neither knows anything about plexfm's config or store: they take plain values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from daemon.plex.library_attach import AttachedListing

_T = TypeVar("_T")

MBID_PREFIX = "mbid://"
"""How Plex writes a MusicBrainz id: ``<Guid id="mbid://...">`` / a ``tags`` row of type 314."""


@dataclass(frozen=True, slots=True)
class LibraryTrack:
    """One track of a Plex music section, as both sources report it.

    Strings are never None ("" when Plex has nothing); numbers are None when Plex has none.
    Times are integer Unix seconds (legacy local-time text is converted).
    """

    rating_key: int  # metadata_items.id
    guid: str  # plex://track/... (or local://...)
    title: str
    track_artist: str  # Plex's original_title when it differs from the album artist, else ""
    album_artist: str  # the grandparent (artist) title
    album: str
    album_year: int | None
    track_number: int | None
    disc_number: int | None
    duration_ms: int | None
    album_rating_key: int
    artist_rating_key: int
    album_guid: str
    artist_guid: str
    track_mbid: str  # "" when unknown (without the mbid:// prefix)
    album_mbid: str
    artist_mbid: str
    added_at: int | None  # epoch seconds
    updated_at: int | None  # epoch seconds: changes when Plex changes the row


class LibrarySource(Protocol):
    """A read-only music section: its id and its tracks."""

    def section_id(self) -> int:
        """The Plex library section id (``library_sections.id`` / the API section key)."""
        ...

    def tracks(self) -> Iterator[LibraryTrack]:
        """Every non-deleted track of the section, each once (order is the source's own)."""
        ...


@runtime_checkable
class AttachableLibrary(Protocol):
    """A source that can also hand its listing to SQL (`DatabaseLibrary`): a caller copying
    the tracks into its own SQLite database does it in one INSERT ... SELECT, with no
    `LibraryTrack` built (see `DatabaseLibrary.attached_tracks`)."""

    def attached_tracks(self, conn: sqlite3.Connection,
                        work: Callable[[AttachedListing], _T]) -> _T:
        """Run ``work(listing)`` on ``conn`` with the source attached."""
        ...


def track_artist(original_title: str | None, album_artist: str) -> str:
    """The track artist as `LibraryTrack` keeps it: ``original_title`` unless it is empty or
    equal to the album artist, in which case ""."""
    if not original_title or original_title == album_artist:
        return ""
    return original_title


def mbid_of(guid: str | None) -> str:
    """The bare MusicBrainz id of an ``mbid://<uuid>`` guid; "" for anything else."""
    if guid and guid.startswith(MBID_PREFIX):
        return guid[len(MBID_PREFIX):]
    return ""
