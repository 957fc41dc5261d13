"""Normalization rules: raw last.fm / Plex strings to comparison keys.

The rules are data at the top of the module (beets' style); the functions below only apply
them. Every function is pure and total: any string in, a key out (never raises), and equal
keys mean "the same thing" for matching. Raw strings are never changed in storage, so these
rules can evolve and everything re-matches.

A title is read as a base plus *qualifiers*: bracketed groups and ` - ` segments. A qualifier is
either a featured-artist clause (dropped), an equivalent suffix that does not change the
recording (dropped), a marker of another recording (kept as part of the identity), or ordinary
text that belongs to the name (kept).
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

# --- characters ------------------------------------------------------------------------------

# Written as \N{...} names: the look-alike characters themselves are unreadable in a diff.
QUOTE_MAP: dict[str, str] = {
    **dict.fromkeys(
        "\N{LEFT SINGLE QUOTATION MARK}\N{RIGHT SINGLE QUOTATION MARK}"
        "\N{SINGLE LOW-9 QUOTATION MARK}\N{SINGLE HIGH-REVERSED-9 QUOTATION MARK}\N{PRIME}"
        "\N{GRAVE ACCENT}\N{ACUTE ACCENT}\N{MODIFIER LETTER APOSTROPHE}"
        "\N{MODIFIER LETTER TURNED COMMA}\N{FULLWIDTH APOSTROPHE}",
        "'",
    ),
    **dict.fromkeys(
        "\N{LEFT DOUBLE QUOTATION MARK}\N{RIGHT DOUBLE QUOTATION MARK}"
        "\N{DOUBLE LOW-9 QUOTATION MARK}\N{DOUBLE HIGH-REVERSED-9 QUOTATION MARK}"
        "\N{DOUBLE PRIME}\N{LEFT-POINTING DOUBLE ANGLE QUOTATION MARK}"
        "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}\N{FULLWIDTH QUOTATION MARK}",
        '"',
    ),
}
DASH_MAP: dict[str, str] = dict.fromkeys(
    "\N{HYPHEN}\N{NON-BREAKING HYPHEN}\N{FIGURE DASH}\N{EN DASH}\N{EM DASH}"
    "\N{HORIZONTAL BAR}\N{MINUS SIGN}\N{HYPHEN BULLET}\N{SMALL EM DASH}"
    "\N{SMALL HYPHEN-MINUS}\N{FULLWIDTH HYPHEN-MINUS}",
    "-",
)
ELLIPSIS_MAP: dict[str, str] = {
    "\N{HORIZONTAL ELLIPSIS}": "...", "\N{MIDLINE HORIZONTAL ELLIPSIS}": "...",
}  # fmt: skip
# Letters that carry no combining mark, so stripping diacritics alone would keep them apart.
TRANSLITERATIONS: dict[str, str] = {
    "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ħ": "h",
    "\N{LATIN SMALL LETTER DOTLESS I}": "i",
}  # fmt: skip
# Only the Latin/Greek/Cyrillic combining diacritics: a blanket "strip every mark" would turn
# Japanese が into か (dakuten) and break Indic scripts.
DIACRITIC_RANGES: tuple[tuple[int, int], ...] = (
    (0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
)  # fmt: skip

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
VERSION_MARKERS: tuple[tuple[str, str], ...] = (
    ("live", r"\blive\b|\bin concert\b|\bunplugged\b|\b(?:bbc|peel) sessions?\b"),
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

# --- compiled forms --------------------------------------------------------------------------

_CHAR_TABLE = str.maketrans({**QUOTE_MAP, **DASH_MAP, **ELLIPSIS_MAP, **TRANSLITERATIONS})
_DIACRITICS = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in DIACRITIC_RANGES) + "]")
_BRACKET_GROUP = re.compile(r"[(\[{]([^()\[\]{}]*)[)\]}]")
_DASH_SEGMENT = re.compile(r"\s+-\s+|\s+-$|^-\s+")
_PART_SPLIT = re.compile(r"[/,;]")
_ACRONYM = re.compile(r"(?<!\w)((?:\w\.){2,})")
_SPACED_PLUS = re.compile(r"(?<!\S)\+(?!\S)")
# Everything but letters, digits and combining marks (Indic vowel signs, kana voicing marks)
# separates words; underscore too.
_MARKS = "".join(chr(c) for c in range(0x10000) if unicodedata.category(chr(c))[0] == "M")
_SEPARATORS = re.compile(f"[^\\w{_MARKS}]+|_+")
_CREDIT_SEPARATORS = re.compile(r"\s*[,;/&+]\s*|\s+(?:and|x|vs\.?|feat\.?|ft\.|featuring|with)\s+")
_ARTICLE_SUFFIX = re.compile(r",\s*(?:" + "|".join(LEADING_ARTICLES) + r")\s*$")
_EQUIVALENT = re.compile("|".join(f"(?:{p})" for p in EQUIVALENT_SUFFIXES))
_EQUIVALENT_ALBUM = re.compile("|".join(f"(?:{p})" for p in EQUIVALENT_SUFFIXES + ALBUM_EDITIONS))
_MARKERS = tuple((name, re.compile(pattern)) for name, pattern in VERSION_MARKERS)
_GENERIC_VERSION = re.compile(GENERIC_VERSION[1])
_AND = AND_WORDS[-1]


class NormalizedTitle(NamedTuple):
    """A title's comparison key, its base (the song, without version qualifiers) and markers.

    Two titles name the same recording iff their keys are equal; the same song in another
    recording iff their bases are equal and their keys differ.
    """

    key: str
    base: str
    markers: frozenset[str]


def fold(s: str) -> str:
    """Return `s` in NFKC, casefolded, without Latin diacritics, with quotes/dashes unified."""
    if s.isascii():
        return s.lower().replace("`", "'")
    # Before NFKC too: NFKC turns the acute-accent apostrophe into a space and a combining mark.
    s = unicodedata.normalize("NFKC", s.translate(_CHAR_TABLE)).casefold().translate(_CHAR_TABLE)
    s = _DIACRITICS.sub("", unicodedata.normalize("NFKD", s))
    return unicodedata.normalize("NFC", s)


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
    return [WORD_EQUIVALENTS.get(w, w) for w in _SEPARATORS.sub(" ", s).split()]


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
    base_key = " ".join(words(FEATURE_TAIL.sub("", base)))
    if not base_key:  # the whole title was a qualifier, e.g. "[Untitled]" or "(Live)"
        whole = " ".join(words(s)) or _fallback(raw)
        return NormalizedTitle(whole, whole, frozenset())
    tags = sorted(
        {" ".join(w for w in v.split() if w not in VERSION_FILLER) or v for v in versions}
    )
    key = base_key + "".join(f" ({t})" for t in tags)
    return NormalizedTitle(key, base_key, markers)


def normalize_artist(raw: str) -> str:
    """Return the artist key: featured credits, connectors and a leading "The" dropped.

    Guarantees: "The Beatles" == "Beatles" == "Beatles, The"; "A & B" == "A and B" == "A, B";
    "A feat. B" == "A (feat. B)" == "A"; a band name with a comma stays whole.
    """
    s = fold(raw)
    if "(" in s or "[" in s:
        s = _BRACKET_GROUP.sub(lambda m: " " if FEATURE_GROUP.match(m.group(1)) else m[0], s)
    s = _ARTICLE_SUFFIX.sub("", FEATURE_TAIL.sub("", s))
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


def artist_credits(raw: str) -> list[str]:
    """Return the keys of the separate artists a credit string may name ("A, B & C" -> 3 keys).

    Only for ranking and queue reasons: a band such as "Earth, Wind & Fire" splits too, so a
    credit never decides an automatic match by itself.
    """
    keys = (normalize_artist(p) for p in _CREDIT_SEPARATORS.split(fold(raw)) if p.strip())
    return [k for k in dict.fromkeys(keys) if k and k not in LEADING_ARTICLES]
