"""Spotify's extended streaming history: `Streaming_History_Audio_*.json` (and the older
`endsong_*.json`), as JSON files or the `my_spotify_data.zip` they come in.

Which rows are plays: a music track (podcast episodes, audiobook chapters and rows without a
track are left out) played for at least 30 seconds (`ms_played >= 30000`; shorter ones are
left out, as Maloja and ListenBrainz do). Video history files are not read.

When: `ts` is when playback *ended*; a play is dated when it started, as last.fm dates it:
`ts - ms_played`, or `offline_timestamp` for a play made offline (`offline: true`), whose `ts`
is when the app next synced. Plays in a private session are kept: they are plays.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import msgspec

from daemon.importers import archive, fields
from daemon.importers.jsonarray import json_array
from daemon.importers.limits import open_regular
from daemon.importers.report import ImportReport, LeftOut, RowError, emit
from daemon.importers.spec import Format, Head
from daemon.scrobble import Scrobble

MIN_PLAYED_MS = 30_000
AUDIO = re.compile(r"(?:^|/)(?:Streaming_History_Audio_[^/]*|endsong_\d+)\.json$", re.I)
VIDEO = re.compile(r"(?:^|/)Streaming_History_Video_[^/]*\.json$", re.I)
_KEYS = re.compile(r'"(?:master_metadata_track_name|spotify_track_uri|spotify_episode_uri)"\s*:')
_PLAYED = re.compile(r'"ms_played"\s*:')


class Row(msgspec.Struct):
    """The fields of a history row plexfm reads (the others are ignored)."""

    ts: str | None = None
    ms_played: int | None = None
    master_metadata_track_name: str | None = None
    master_metadata_album_artist_name: str | None = None
    master_metadata_album_album_name: str | None = None
    episode_name: str | None = None
    episode_show_name: str | None = None
    spotify_episode_uri: str | None = None
    audiobook_title: str | None = None
    audiobook_uri: str | None = None
    audiobook_chapter_uri: str | None = None
    offline: bool | None = None
    offline_timestamp: int | None = None


def _ended(value: str | None) -> int:
    if value is None:
        raise RowError("ts is missing")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"ts is not a time: {fields.show(value)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _started(row: Row, ended: int, played_ms: int) -> int:
    offline = row.offline_timestamp
    if row.offline and offline is not None and offline > 0:
        seconds = offline // 1000 if offline > 100_000_000_000 else offline  # ms or s
        if seconds <= ended:
            return seconds
    return ended - (played_ms + 500) // 1000


def _row(obj: object) -> Row:
    if isinstance(obj, Row):
        return obj
    if not isinstance(obj, dict):
        raise RowError("not a JSON object")
    try:
        return msgspec.convert(obj, Row)
    except msgspec.ValidationError as exc:
        raise RowError(f"unexpected field: {exc}") from None


def _play(obj: object, now: float) -> Scrobble:
    row = _row(obj)
    if row.episode_name or row.spotify_episode_uri or row.episode_show_name:
        raise LeftOut("podcast episode(s)")
    if row.audiobook_title or row.audiobook_uri or row.audiobook_chapter_uri:
        raise LeftOut("audiobook chapter(s)")
    title, artist = row.master_metadata_track_name, row.master_metadata_album_artist_name
    if title is None and artist is None:
        raise LeftOut("row(s) without a track (no track name, no artist)")
    played = row.ms_played
    if played is None:
        raise RowError("ms_played is missing")
    if played < MIN_PLAYED_MS:
        raise LeftOut("play(s) shorter than 30 seconds")
    ended = _ended(row.ts)
    return Scrobble(
        fields.check_uts(_started(row, ended, played), "ts - ms_played", now),
        fields.text(artist, "master_metadata_album_artist_name"),
        fields.text(title, "master_metadata_track_name"),
        fields.opt(row.master_metadata_album_album_name, "album"),
    )


def _rows(stream: IO[bytes], name: str, report: ImportReport, member: str) -> Iterator[Scrobble]:
    now = report.now
    plays = json_array(stream, name, report, member, row_type=Row)
    yield from emit(plays, lambda obj: _play(obj, now), report, member, locate=plays.line)


def read(path: Path, report: ImportReport) -> Iterator[Scrobble]:
    if not _is_zip(path):
        with open_regular(path) as stream:
            yield from _rows(stream, str(path), report, "")
        return
    with archive.open_zip(path) as opened:
        videos = sum(1 for name in opened.namelist() if VIDEO.search(name))
        if videos:
            report.left_out["video history file(s)"] += videos
        infos = archive.members(opened, AUDIO, lambda _match: 0)
        yield from archive.read_members(
            path, opened, infos, report, lambda stream, name: _rows(stream, name, report, name)
        )


def _is_zip(path: Path) -> bool:
    with open_regular(path) as stream:
        return stream.read(4) == archive.MAGIC


def sniff(head: Head) -> bool:
    if head.zip_names is not None:
        return any(AUDIO.search(name) for name in head.zip_names)
    text = head.text
    return text.startswith("[") and bool(_PLAYED.search(text)) and bool(_KEYS.search(text))


FORMAT = Format(
    "spotify", "Spotify extended streaming history (`Streaming_History_Audio_*.json`, "
    "`endsong_*.json`, or the ZIP they come in)", read, sniff, order=15,
    file_names=AUDIO.pattern, archive="Streaming_History_Audio_*.json (Spotify)",
)
