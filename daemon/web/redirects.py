"""Where a form may send the browser back to (`next`): a path on this site, nothing else.

Browsers drop tabs and newlines from a URL and treat a backslash like a slash, so
`/\\t/evil.com` and `/\\evil.com` leave the site as surely as `//evil.com`; and a newline in a
Location header is a header injection. So a target is accepted only when the text, and the
text after each round of percent-decoding, is a single leading "/" followed by no "/" or "\\",
with no whitespace, control or format character anywhere; and when the text itself is
printable ASCII (what a header can carry). Anything else gives the default page.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

MAX_LENGTH = 2000
_DECODE_ROUNDS = 4


def _plain(text: str) -> bool:
    """True when `text` starts with exactly one "/" and has no character a browser strips,
    folds into a slash, or reads as the end of the header."""
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return False
    return not any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
                   for ch in text)


def safe_next(target: object, default: str = "/") -> str:
    """`target` when it is a relative path on this site (see the module's rule), else
    `default`. Call it before doing anything the redirect reports on."""
    if not isinstance(target, str) or not 0 < len(target) <= MAX_LENGTH:
        return default
    if not all(" " < ch < "\x7f" for ch in target):
        return default
    seen = target
    for _round in range(_DECODE_ROUNDS):
        if not _plain(seen):
            return default
        decoded = unquote(seen)
        if decoded == seen:
            return target
        seen = decoded
    return default  # still changing after several decodings: nobody needs that
