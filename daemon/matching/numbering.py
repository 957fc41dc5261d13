"""Numbers in track titles (movements, parts, opus and catalogue numbers), to rank suggestions.

"Part II" and "Pt. 2" carry the same number; "III. Presto" and "IV. Presto" do not, however
alike the rest of the titles is. Read from a title's `literal` (folded, punctuation kept).
Pure; never decides a match, only ranks the queue's suggestions.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

# Words after which a numeral is a number, whether roman or arabic ("Part II", "No. 5").
# Not "no": "No I Don't" is no number.
NUMBERING_WORDS: tuple[str, ...] = (
    "part", "pt", "act", "scene", "movement", "mvt", "book", "volume", "vol", "chapter",
    "symphony", "suite", "sonata", "concerto", "variation",
)  # fmt: skip
# Roman numerals 1-39, validated (so "mix" or "civil" are never numbers).
ROMAN_NUMERAL = r"x{0,3}(?:ix|iv|v?i{1,3}|v)|x{1,3}"
# A numeral is a number: any arabic one; a roman one after a numbering word, as a movement
# ("III. Presto", "IV: Finale" at the start or after ":", "-", ",", "(", "/"), or written with two
# letters or more ("Rocky IV"). A lone "I", "V" or "X" elsewhere is a word ("I Want You").
_NUMBERING = "|".join(NUMBERING_WORDS)
_ROMAN_IN_PLACE = re.compile(
    rf"\b(?:{_NUMBERING})\b\.?\s*({ROMAN_NUMERAL})(?=[.:,)\s]|$)"
    rf"|(?:^|[:\-,(/])\s*({ROMAN_NUMERAL})(?=[.:](?:\s|$))"
    rf"|\b({ROMAN_NUMERAL})\b"
)
_ARABIC = re.compile(r"(?<!\w)\d+(?!\w)")
_ANY_NUMERAL = re.compile(r"\d|\b[ivx]+\b")
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10}


def _roman(numeral: str) -> int:
    values = [_ROMAN_VALUES[c] for c in numeral]
    return sum(-v if v < nxt else v for v, nxt in zip(values, [*values[1:], 0], strict=True))


def title_numbers(literal: str) -> str:
    """Return the numbers of title `literal` as a canonical string: sorted, space-separated.

    "symphony no. 7 in a, op. 92: ii. allegretto" -> "2 7 92"; "" when there are none.
    """
    if not _ANY_NUMERAL.search(literal):
        return ""
    found = [int(m) for m in _ARABIC.findall(literal)]
    for m in _ROMAN_IN_PLACE.finditer(literal):
        in_place, alone = m.group(1) or m.group(2), m.group(3)
        if in_place or len(alone) > 1:
            found.append(_roman(in_place or alone))
    return " ".join(str(n) for n in sorted(found))


def _conflict(a: str, b: str) -> bool:
    """Whether number strings `a` and `b` name different things: neither holds the other."""
    x, y = Counter(a.split()), Counter(b.split())
    return bool(x - y) and bool(y - x)


def numbers_conflict(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return, per position, whether the title numbers `a[i]` and `b[i]` (from `title_numbers`)
    conflict: both titles carry numbers and neither's numbers contain the other's.

    "2" and "2 2011" do not conflict (a remaster year on one side); "3 9" and "4 9" do.
    """
    differ = (a != "") & (b != "") & (a != b)
    out = np.zeros(len(a), dtype=bool)
    if differ.any():
        pairs = pd.Series(a[differ], dtype=object) + "|" + pd.Series(b[differ], dtype=object)
        codes, uniques = pd.factorize(pairs)
        decided = np.array([_conflict(*u.split("|")) for u in uniques], dtype=bool)
        out[differ] = decided[codes]
    return out
