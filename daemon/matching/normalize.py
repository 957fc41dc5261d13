"""Normalization rules: raw last.fm / Plex strings to comparison keys.

The rules are data at the top of the module (beets' style); the functions below only apply
them. Every function is pure and total: any string in, a key out (never raises), and equal
keys mean "the same thing" for matching. Raw strings are never changed in storage, so these
rules can evolve and everything re-matches.

A title is read as a base plus *qualifiers*: bracketed groups and ` - ` segments. A qualifier is
either a featured-artist clause (dropped), an equivalent suffix that does not change the
recording (dropped), a marker of another recording (kept as part of the identity), or ordinary
text that belongs to the name (kept). Character-level rules (quotes, dashes, diacritics,
invisible characters) are in `characters`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from daemon.matching.characters import fold

# --- words -----------------------------------------------------------------------------------

# "&", "+" and "and" are one word; in artist names they are connectors and are dropped, so
# "Calvin Harris, Dua Lipa" == "Calvin Harris & Dua Lipa" and "Simon and Garfunkel" ==
# "Simon & Garfunkel". In titles and albums they all become "and".
AND_WORDS: tuple[str, ...] = ("&", "+", "and")
LEADING_ARTICLES: tuple[str, ...] = ("the",)  # artists only: "Beatles" == "The Beatles"
WORD_EQUIVALENTS: dict[str, str] = {"pt": "part", "vol": "volume"}

# --- featured artists ------------------------------------------------------------------------

# A bracketed qualifier that opens with one of these is a credit, not part of the name.
FEATURE_GROUP = re.compile(r"(?:feat|ft|featuring|with|prod|produced by)\b")
# A ` - ` segment only with the explicit forms: "Song - With You" keeps its words.
FEATURE_SEGMENT = re.compile(r"(?:feat|ft|featuring)\b")
# Unbracketed: only the explicit forms, followed by a name. "ft" without a dot and "with" are
# left alone: "50 ft Queenie", "Little Feat", "Stay with Me" must keep their words.
FEATURE_TAIL = re.compile(r"\s(?:feat\.?|ft\.|featuring)\s+\S.*$")
FEATURE_PATTERNS: tuple[re.Pattern[str], ...] = (FEATURE_GROUP, FEATURE_SEGMENT, FEATURE_TAIL)

# --- qualifiers that do not change the recording ---------------------------------------------

# Each must match a whole qualifier part (parts are split on "/", "," and ";"), after folding
# and collapsing punctuation: "Mono / 1997 Remastered" is two equivalent parts.
EQUIVALENT_SUFFIXES: tuple[str, ...] = (
    r"(?:\d{4} )?(?:\d{2} ?bit )?(?:digital(?:ly)? )?re ?master(?:ed)?(?: in)?(?: \d{4})?"
    r"(?: (?:digital )?(?:version|edition))?(?: \d{4})?",
    r"(?:\d+(?:st|nd|rd|th) )?anniversary (?:re ?master(?:ed)?|edition|version)",
    r"(?:single|album|lp|original|radio|stereo|mono|explicit|clean|uncensored) version",
    r"(?:(?:radio|single|clean|explicit) )?edit",  # a bare "Edit" is the radio edit
    r"original(?: mix| recording)?",
    r"mono|stereo|explicit|uncensored",
    r"bonus(?: track)?(?: version)?",
    r"\d{4}",  # a bare year is a release or remaster date: "Song - 2011 - Remaster"
)
# Albums also drop edition markers: the deluxe and the plain album hold the same recordings.
ALBUM_EDITIONS: tuple[str, ...] = (
    r"(?:super )?deluxe(?: (?:edition|version|remaster(?:ed)?|box set))?",
    r"(?:expanded|special|limited|collectors|legacy|platinum|definitive|complete|standard"
    r"|international|tour|japan(?:ese)?|bonus tracks?) (?:edition|version)",
    r"(?:\d+(?:st|nd|rd|th) )?anniversary(?: (?:edition|version|deluxe))?",
    r"archive collection|bonus tracks?|(?:disc|cd) ?\d+",
)

# --- qualifiers that name another recording --------------------------------------------------

# Searched (not fully matched) in what remains of a qualifier; any hit makes it part of the
# identity, so "Song - Live" never equals "Song". "Original Mix" was already dropped above.
LIVE = "live"
VERSION_MARKERS: tuple[tuple[str, str], ...] = (
    (LIVE, r"\blive\b|\bin concert\b|\bunplugged\b|\b(?:bbc|peel) sessions?\b"),
    ("remix", r"\bre ?mix(?:ed|es)?\b|\brmx\b|\bmix\b|\bdub\b|\brework(?:ed)?\b|\bextended\b"
              r"|\bedit\b|\bbootleg\b"),
    ("acoustic", r"\bacoustic\b|\bunplugged\b"),
    ("demo", r"\bdemo\b"),
    ("instrumental", r"\binstrumental\b"),
    ("karaoke", r"\bkaraoke\b|\bbacking track\b|\bsing ?along\b"),
    ("a cappella", r"\ba ?cappella\b|\bacapella\b"),
    ("re-recorded", r"\bre ?record(?:ed|ing)?\b|\brerecorded\b|\bnew recording\b"),
    ("taylor's version", r"\btaylors version\b"),
    ("alternate", r"\balt(?:ernate)?\b|\bouttake\b|\btake \d+\b|\brehearsal\b|\bearly version\b"),
    ("orchestral", r"\borchestral\b|\bsymphonic\b"),
)  # fmt: skip
# "Naked Version", "Spanish Version", "Piano Version": some other version, when nothing more
# specific matched.
GENERIC_VERSION = ("alternate", r"\bversion\b")
# Dropped from a version qualifier's text: "Live Version" == "Live".
VERSION_FILLER: frozenset[str] = frozenset({"version"})

# --- albums of live recordings --------------------------------------------------------------

# A live album holds other recordings than the studio album even when its track titles carry no
# "(Live)". Searched in the album's words (folded, punctuation dropped, edition markers removed);
# an album qualifier with a "live" marker ("Weld (Live)", "[Live at the BBC]") counts too.
# Conservative on purpose: a miss only leaves the copies to the ordinary tie-break, a false hit
# would queue studio tracks. Not live: "Live Through This", "Live Forever", "Alive", "The World
# We Live In", "Live and Let Die", "Concert Arias".
LIVE_ALBUM_PATTERNS: tuple[str, ...] = (
    r"^live(?: (?:in|at|from)\b.*| \d.*)?$",  # "Live!", "Live in Japan", "Live 1975-85"
    r"\blive (?:at|from)\b|\blive \d{4}\b",  # "Nirvana Live at Reading", "Live 1966"
    r"\bunplugged\b|\bin concert\b",  # "MTV Unplugged in New York", "Elvis in Concert"
    r"\bconcert (?:at|in|for|from)\b|\bconcert$",  # "Concert in Central Park", "Köln Concert"
    r"\b(?:bbc|peel|radio|live) sessions?\b|\bsessions? at\b",  # "BBC Sessions", "Sessions at ..."
)  # fmt: skip

# --- compiled forms --------------------------------------------------------------------------

_BRACKET_GROUP = re.compile(r"[(\[{]([^()\[\]{}]*)[)\]}]")
_DASH_SEGMENT = re.compile(r"\s+-\s+|\s+-$|^-\s+")
_PART_SPLIT = re.compile(r"[/,;]")
_ACRONYM = re.compile(r"(?<!\w)((?:\w\.){2,})")
_SPACED_PLUS = re.compile(r"(?<!\S)\+(?!\S)")
# Everything but letters, digits and combining marks (Indic vowel signs, kana voicing marks)
# separates words; underscore too.
_MARKS = "".join(chr(c) for c in range(0x10000) if unicodedata.category(chr(c))[0] == "M")
_SEPARATORS = re.compile(f"[^\\w{_MARKS}]+|_+")
_ASCII_SEPARATORS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})
_CREDIT_SEPARATORS = re.compile(r"\s*[,;/&+]\s*|\s+(?:and|x|vs\.?|feat\.?|ft\.|featuring|with)\s+")
_ARTICLE_SUFFIX = re.compile(r",\s*(?:" + "|".join(LEADING_ARTICLES) + r")\s*$")
_EQUIVALENT = re.compile("|".join(f"(?:{p})" for p in EQUIVALENT_SUFFIXES))
_EQUIVALENT_ALBUM = re.compile("|".join(f"(?:{p})" for p in EQUIVALENT_SUFFIXES + ALBUM_EDITIONS))
_MARKERS = tuple((name, re.compile(pattern)) for name, pattern in VERSION_MARKERS)
_GENERIC_VERSION = re.compile(GENERIC_VERSION[1])
_AND = AND_WORDS[-1]
_LIVE_ALBUM = re.compile("|".join(f"(?:{p})" for p in LIVE_ALBUM_PATTERNS))
# Every live album pattern and live marker holds one of these words.
_LIVE_HINT = re.compile(r"live|unplugged|concert|session")


class NormalizedTitle(NamedTuple):
    """A title's comparison key, its base (the song, without version qualifiers) and markers.

    Two titles name the same recording iff their keys are equal; the same song in another
    recording iff their bases are equal and their keys differ. `literal` is the key with its
    punctuation ("In the Flesh?", "III. Presto"): only for ranking suggestions.
    """

    key: str
    base: str
    markers: frozenset[str]
    literal: str


def words(s: str) -> list[str]:
    """Return the words of folded text `s`: punctuation dropped, "&"/"+" as "and", "pt" as "part".

    Apostrophes vanish without splitting ("don't" == "dont") and dotted acronyms close up
    ("R.E.M." == "REM").
    """
    s = s.replace("'", "").replace("&", " and ")
    if "+" in s:
        s = _SPACED_PLUS.sub(" and ", s)
    if "." in s:
        s = _ACRONYM.sub(lambda m: m.group(1).replace(".", ""), s)
    # ASCII text (most of it): the separators are exactly the characters that are not letters
    # or digits, replaced by one translate instead of a regex over every combining mark
    split = (s.translate(_ASCII_SEPARATORS) if s.isascii() else _SEPARATORS.sub(" ", s)).split()
    return [WORD_EQUIVALENTS.get(w, w) for w in split]


def _classify(
    text: str, equivalent: re.Pattern[str], feature: re.Pattern[str]
) -> tuple[str, str, frozenset[str]]:
    """Return (kind, words, markers) of a folded qualifier.

    kind is "feature", "equivalent", "version" (another recording) or "text" (part of the name).
    """
    text = text.strip()
    if feature.match(text):
        return "feature", "", frozenset()
    parts = (" ".join(words(p)) for p in _PART_SPLIT.split(text))
    kept = " ".join(p for p in parts if p and not equivalent.fullmatch(p))
    if not kept:
        return "equivalent", "", frozenset()
    markers = {name for name, pattern in _MARKERS if pattern.search(kept)}
    if not markers and _GENERIC_VERSION.search(kept):
        markers.add(GENERIC_VERSION[0])
    return ("version" if markers else "text"), kept, frozenset(markers)


def _split_qualifiers(s: str, equivalent: re.Pattern[str]) -> tuple[str, list[str], frozenset[str]]:
    """Return (base text, version qualifiers, markers) of folded `s`."""
    versions: list[str] = []
    markers: set[str] = set()

    def group(m: re.Match[str]) -> str:
        kind, kept, found = _classify(m.group(1), equivalent, FEATURE_GROUP)
        if kind == "version":
            versions.append(kept)
            markers.update(found)
        return f" {kept} " if kind == "text" else " "

    # Innermost groups first, so "(Live at X [2011 Remaster])" sheds its remaster, then is live.
    while "(" in s or "[" in s or "{" in s:
        stripped = _BRACKET_GROUP.sub(group, s)
        if stripped == s:
            break
        s = stripped
    if "-" not in s:
        return s, versions, frozenset(markers)
    segments = _DASH_SEGMENT.split(s)
    base, in_version = segments[0], False
    for segment in segments[1:]:
        kind, kept, found = _classify(segment, equivalent, FEATURE_SEGMENT)
        if kind == "version":
            versions.append(kept)
            markers.update(found)
            in_version = True
        elif kind == "text" and in_version:
            # "Jessica - Live at Walnut Creek - July 1994": the tail still describes the version.
            versions[-1] += " " + kept
        elif kind == "text":
            base += " " + kept
    return base, versions, frozenset(markers)


def _fallback(raw: str) -> str:
    """Key for a string made only of punctuation ("!!!", "?"): its folded, trimmed self."""
    return " ".join(fold(raw).split())


def normalize_title(raw: str) -> NormalizedTitle:
    """Return the key, base and version markers of a track title (see `NormalizedTitle`)."""
    s = fold(raw)
    base, versions, markers = _split_qualifiers(s, _EQUIVALENT)
    base = FEATURE_TAIL.sub("", base)
    base_key = " ".join(words(base))
    if not base_key:  # the whole title was a qualifier, e.g. "[Untitled]" or "(Live)"
        whole = " ".join(words(s)) or _fallback(raw)
        return NormalizedTitle(whole, whole, frozenset(), _fallback(raw))
    tags = "".join(
        f" ({t})"
        for t in sorted(
            {" ".join(w for w in v.split() if w not in VERSION_FILLER) or v for v in versions}
        )
    )
    return NormalizedTitle(base_key + tags, base_key, markers, " ".join(base.split()) + tags)


def _without_features(s: str) -> str:
    """Return folded artist credit `s` without its featured-artist clauses."""
    if "(" in s or "[" in s:
        s = _BRACKET_GROUP.sub(lambda m: " " if FEATURE_GROUP.match(m.group(1)) else m[0], s)
    return FEATURE_TAIL.sub("", s)


def normalize_artist(raw: str) -> str:
    """Return the artist key: featured credits, connectors and a leading "The" dropped.

    Guarantees: "The Beatles" == "Beatles" == "Beatles, The"; "A & B" == "A and B" == "A, B";
    "A feat. B" == "A (feat. B)" == "A"; a band name with a comma stays whole.
    """
    s = _ARTICLE_SUFFIX.sub("", _without_features(fold(raw)))
    tokens = [w for w in words(s) if w != _AND]
    if len(tokens) > 1 and tokens[0] in LEADING_ARTICLES:
        tokens = tokens[1:]
    return " ".join(tokens) or _fallback(raw)


def normalize_album(raw: str, *, strip_editions: bool = True) -> str:
    """Return the album key; with `strip_editions`, deluxe/remaster/expanded markers are dropped.

    Guarantees: "A Night at the Opera (2011 Remaster)" == "A Night At The Opera";
    "Fearless (Taylor's Version)" != "Fearless" (another album, not an edition).
    """
    s = fold(raw)
    if strip_editions:
        base, versions, _ = _split_qualifiers(s, _EQUIVALENT_ALBUM)
        s = " ".join([base, *versions])
    return " ".join(words(s)) or _fallback(raw)


def is_live_album(raw: str) -> bool:
    """Return whether album title `raw` names a live album (`LIVE_ALBUM_PATTERNS`)."""
    s = fold(raw)
    if not _LIVE_HINT.search(s):  # most albums: no need to split qualifiers
        return False
    base, _, markers = _split_qualifiers(s, _EQUIVALENT_ALBUM)
    return LIVE in markers or bool(_LIVE_ALBUM.search(" ".join(words(base))))


def artist_credits(raw: str) -> list[str]:
    """Return the keys of the separate artists a credit string may name ("A, B & C" -> 3 keys).

    Only for ranking and queue reasons: a band such as "Earth, Wind & Fire" splits too, so a
    credit never decides an automatic match by itself.
    """
    keys = (normalize_artist(p) for p in _CREDIT_SEPARATORS.split(fold(raw)) if p.strip())
    return [k for k in dict.fromkeys(keys) if k and k not in LEADING_ARTICLES]


def performer_credits(raw: str) -> frozenset[str]:
    """Return the keys of the performers credit `raw` names, featured artists left out.

    "Queen & David Bowie" -> {queen, david bowie}; "Daft Punk feat. Pharrell" -> {daft punk}.
    """
    keys = (normalize_artist(p) for p in _CREDIT_SEPARATORS.split(_without_features(fold(raw))))
    return frozenset(k for k in keys if k and k not in LEADING_ARTICLES)
