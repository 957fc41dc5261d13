"""Pure matching of last.fm scrobbles to Plex library tracks: no I/O, no store, no config.

`characters` and `normalize` hold the rules as named constants; `matcher.match_exact` makes the
automatic decisions, choosing only among copies of one recording (`recordings`);
`suggest.suggest` ranks candidates for the queue (`numbering` for movement and part numbers).
"""

# Bump when a rule change should re-decide every automatic match (the store compares it).
RULES_VERSION = 2  # 2: several recordings, live albums, invisible characters

from daemon.matching.matcher import (  # noqa: E402
    AMBIGUOUS,
    ARTIST_KNOWN,
    CLOSE_TITLE,
    DIFFERENT_VERSION,
    MATCH_COLUMNS,
    NO_ARTIST,
    REASONS,
    RULES,
    SEVERAL_RECORDINGS,
    STATUS_AUTO,
    STATUS_QUEUED,
    match_exact,
)
from daemon.matching.normalize import (  # noqa: E402
    NormalizedTitle,
    normalize_album,
    normalize_artist,
    normalize_title,
)
from daemon.matching.suggest import suggest  # noqa: E402

__all__ = [
    "AMBIGUOUS",
    "ARTIST_KNOWN",
    "CLOSE_TITLE",
    "DIFFERENT_VERSION",
    "MATCH_COLUMNS",
    "NO_ARTIST",
    "REASONS",
    "RULES",
    "RULES_VERSION",
    "SEVERAL_RECORDINGS",
    "STATUS_AUTO",
    "STATUS_QUEUED",
    "NormalizedTitle",
    "match_exact",
    "normalize_album",
    "normalize_artist",
    "normalize_title",
    "suggest",
]
