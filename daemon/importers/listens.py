"""A ListenBrainz listen as a scrobble: the shape of every ListenBrainz export, of the import
payload and of the API's /1/user/<name>/listens (the live pull uses this too).

MBIDs come from `additional_info` first (what the submitting player sent), then from
`mbid_mapping` (what ListenBrainz matched).
"""

from __future__ import annotations

import re

from daemon.importers import fields
from daemon.importers.report import RowError
from daemon.scrobble import Scrobble

_KEY = re.compile(r'"(?:listened_at|track_metadata)"\s*:')
_LASTFM_KEY = re.compile(r'"(?:recenttracks|track|#text)"\s*:')


def listen(obj: object, now: float) -> Scrobble:
    """One listen object as a scrobble; RowError says what is wrong with it."""
    meta = fields.key(obj, "track_metadata")
    if not isinstance(meta, dict):
        raise RowError("no track_metadata object")
    uts = fields.uts(fields.key(obj, "listened_at"), "listened_at", now)
    info, mapping = meta.get("additional_info"), meta.get("mbid_mapping")
    key = fields.key
    return Scrobble(
        uts,
        fields.text(meta.get("artist_name"), "artist_name"),
        fields.text(meta.get("track_name"), "track_name"),
        fields.opt(meta.get("release_name"), "release_name"),
        fields.first_mbid(key(info, "artist_mbids"), "artist_mbids")
        or fields.first_mbid(key(mapping, "artist_mbids"), "artist_mbids"),
        fields.opt(key(info, "recording_mbid"), "recording_mbid")
        or fields.opt(key(mapping, "recording_mbid"), "recording_mbid"),
        fields.opt(key(info, "release_mbid"), "release_mbid")
        or fields.opt(key(mapping, "release_mbid"), "release_mbid"),
    )


def listen_line(text: str, now: float) -> Scrobble:
    """One line of a .jsonl export."""
    return listen(fields.json_line(text), now)


def listen_first(text: str) -> bool:
    """Whether `text` shows a listen's keys before any key of a last.fm page (detection)."""
    found, other = _KEY.search(text), _LASTFM_KEY.search(text)
    return found is not None and (other is None or found.start() < other.start())
