"""Character rules: which code points are one character for matching, which are none at all.

`fold` applies them: the first step of every key in `normalize`. Written as \\N{...} names and
code point ranges, because the look-alike and invisible characters themselves are unreadable in
a diff.
"""

from __future__ import annotations

import re
import unicodedata

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
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): soft hyphen, zero-width
# space/joiners, bidi controls, variation selectors, fillers, byte order mark, tags. They render
# as nothing, so "Lu<soft hyphen>cky" is "Lucky", not the two words "Lu cky"; removed before
# anything else.
DEFAULT_IGNORABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip

_CHAR_TABLE = str.maketrans({**QUOTE_MAP, **DASH_MAP, **ELLIPSIS_MAP, **TRANSLITERATIONS})


def _char_class(ranges: tuple[tuple[int, int], ...]) -> re.Pattern[str]:
    return re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]")


_DIACRITICS = _char_class(DIACRITIC_RANGES)
_IGNORABLE = _char_class(DEFAULT_IGNORABLE_RANGES)


def fold(s: str) -> str:
    """Return `s` in NFKC, casefolded, without default-ignorable code points and Latin
    diacritics, with quotes/dashes unified."""
    if s.isascii():
        return s.lower().replace("`", "'")
    s = _IGNORABLE.sub("", s)
    # Before NFKC too: NFKC turns the acute-accent apostrophe into a space and a combining mark.
    s = unicodedata.normalize("NFKC", s.translate(_CHAR_TABLE)).casefold().translate(_CHAR_TABLE)
    s = _DIACRITICS.sub("", unicodedata.normalize("NFKD", s))
    return unicodedata.normalize("NFC", s)
