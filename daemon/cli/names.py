"""How the command line names tracks: a library track as "Artist / Title / Album [key]",
and as the `library_track` object of the JSON outputs."""

from __future__ import annotations

from typing import Any


def library_track(track: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON object of a library track (a row of `daemon.store.search.library_tracks`);
    None when the track is not in the library mirror (any more)."""
    if track is None:
        return None
    return {"rating_key": int(track["rating_key"]), "artist": artist_of(track),
            "title": track["title"], "album": track["album"],
            "year": track["album_year"] or None}


def artist_of(track: dict[str, Any]) -> str:
    """The track's own artist (Plex's original_title, on compilations), else its album's."""
    return str(track["track_artist"] or track["album_artist"])


def library_name(track: dict[str, Any] | None, key: int | None = None) -> str:
    """"Artist / Title / Album [key]" of a library track; "[key] (not in the library
    mirror)" when the track is unknown."""
    if track is None:
        return f"[{key}] (not in the library mirror: run plexfm library)"
    return f"{artist_of(track)} / {track['title']} / {track['album']} [{track['rating_key']}]"


def scrobbled_name(row: dict[str, Any]) -> str:
    """"artist / title / album" of a scrobbled track, exactly as scrobbled."""
    return f"{row['artist']} / {row['title']} / {row['album']}"
