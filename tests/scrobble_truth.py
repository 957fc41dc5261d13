"""What a store must hold for a given upstream history: the test oracle for ingest.

Written independently of `daemon.scrobble.with_ordinals` on purpose, so the ingest tests do
not check the code against itself.
"""

from __future__ import annotations

from typing import Any

from daemon.scrobble import Scrobble


def truth(items: list[Scrobble], *, before: int | None = None,
          mbids: bool = False) -> list[tuple[Any, ...]]:
    """Sorted (uts, artist, title, album, ordinal[, artist_mbid, track_mbid, album_mbid]) of
    every scrobble with uts < `before`; the ordinal numbers identical plays in one second."""
    counts: dict[tuple[int, str, str, str], int] = {}
    out = []
    for s in items:
        if before is not None and s.uts >= before:
            continue
        key = (s.uts, s.artist, s.title, s.album)
        extra = (s.artist_mbid, s.track_mbid, s.album_mbid) if mbids else ()
        out.append((*key, counts.get(key, 0), *extra))
        counts[key] = counts.get(key, 0) + 1
    return sorted(out)
