"""The queue's bulk accept: which queued tracks' top suggestion may be accepted in one go.

Never another recording. Only tracks queued for a reason that leaves the same recording
possible (a close title, a title the artist's albums lack, an artist the library lacks) are
accepted; a track queued because the library holds the song only in another recording
("different version"), because several recordings or namesake artists could not be told
apart ("ambiguous"), or because you removed its match, waits for a person; and so does a
track whose top suggestion carries other version markers than the scrobbled title (a live
take or a remix for a studio title: `matching.normalize_title`). The preview counts both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Connection

from daemon.matching import ARTIST_KNOWN, CLOSE_TITLE, NO_ARTIST, normalize_title

SAME_RECORDING_POSSIBLE = (CLOSE_TITLE, ARTIST_KNOWN, NO_ARTIST)
ANOTHER_RECORDING = "another recording suggested"
GONE = "suggestion no longer in the library"


@dataclass(frozen=True)
class BulkPlan:
    """What a bulk accept would do: (track_id, rating_key) pairs, counted by reason, and
    the tracks it leaves for a person, counted by why."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    by_reason: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)

    def excluded_text(self) -> str:
        """"914 different version, 20 ambiguous" (most first)."""
        return ", ".join(f"{n:,} {why}" for why, n in
                         sorted(self.excluded.items(), key=lambda kv: (-kv[1], kv[0])))


def plan(conn: Connection, min_score: int, artist: str = "") -> BulkPlan:
    """The bulk accept of every queued track (of `artist`, as scrobbled, when given) whose
    top suggestion scores at least `min_score` (skipped ones included: the action is
    explicit). One index range (ix_matches_queued_top_score) and a title check per track."""
    sql = ("SELECT m.track_id, json_extract(m.suggestions, '$[0][0]'), m.reason, t.title,"
           " l.title FROM matches m INDEXED BY ix_matches_queued_top_score"
           " JOIN scrobbled_tracks t ON t.id = m.track_id LEFT JOIN library_tracks l"
           " ON l.rating_key = json_extract(m.suggestions, '$[0][0]')"
           " WHERE m.status = 'queued' AND json_extract(m.suggestions, '$[0][1]') >= ?")
    params: list[object] = [min_score]
    if artist:
        sql += " AND t.artist = ?"
        params.append(artist)
    pairs: list[tuple[int, int]] = []
    accepted: Counter[str] = Counter()
    excluded: Counter[str] = Counter()
    for track_id, key, reason, scrobbled, suggested in conn.exec_driver_sql(sql, tuple(params)):
        why = str(reason or "no reason")
        if why not in SAME_RECORDING_POSSIBLE:
            excluded[why] += 1
        elif suggested is None:
            excluded[GONE] += 1
        elif normalize_title(str(scrobbled)).markers != normalize_title(str(suggested)).markers:
            excluded[ANOTHER_RECORDING] += 1
        else:
            pairs.append((int(track_id), int(key)))
            accepted[why] += 1
    return BulkPlan(pairs, dict(accepted.most_common()), dict(excluded.most_common()))
