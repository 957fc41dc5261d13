"""Scrobbles of a generated Plex library, for tests that need plays the matcher can find."""

from __future__ import annotations

from collections import Counter

from daemon.matching import normalize_artist, normalize_title
from daemon.scrobble import Scrobble
from tests.fakes.plex_library_gen import Library, Track


def identity(library: Library, track: Track) -> tuple[str, str, str]:
    """(artist, title, album) as a scrobbler would send them for this track."""
    artist = library.track_artist(track) or library.artist_of(track).title
    return artist, track.title, library.album_of(track).title


def scrobble(library: Library, track: Track, uts: int) -> Scrobble:
    """A play of `track` at `uts`."""
    return Scrobble(uts, *identity(library, track))


def unambiguous(library: Library, count: int) -> list[Track]:
    """Up to `count` live tracks that no other library track shares a normalized
    (artist, title) key with, so an exact match is certain."""
    def key(t: Track) -> tuple[str, str]:
        artist, title, _album = identity(library, t)
        return normalize_artist(artist), normalize_title(title).key

    live = [t for t in library.tracks if t.deleted_at is None]
    seen = Counter(key(t) for t in live)
    return [t for t in live if seen[key(t)] == 1][:count]
