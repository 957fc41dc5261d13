"""last.fm tags -> genres: a whitelist of canonical names, aliases, and a weight threshold.

Pure: no I/O. A tag is first normalized (`tag_key`: "Hip-Hop", "hip_hop" and "HIP HOP" all
become "hip hop"), then looked up: the user's aliases first (config `analytics.genre_aliases`),
then the built-in non-genre tags ("seen live", "favorites", decades, nationalities...), then the
built-in aliases (spellings and sub-genres merged into one canonical genre), then the whitelist.
Anything else ("Audioslave", "albums i own") is not a genre. A tag equal to the artist's own
name is never a genre, and tags weighted below `min_weight` (last.fm's top tag weighs 100)
are dropped.

An artist's genres are ranked by weight (several tags merging into one genre keep the
highest weight); the first is its primary genre, which the genre shares count.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

RULES_VERSION = 1  # bump when the constants below change: stored genres are then rebuilt
DEFAULT_MIN_WEIGHT = 10
MAX_GENRES_PER_ARTIST = 5

GENRES: frozenset[str] = frozenset({
    "alternative", "ambient", "blues", "classical", "country", "dance", "disco",
    "downtempo", "drum and bass", "dubstep", "electronic", "emo", "experimental", "folk", "funk",
    "gospel", "grunge", "hardcore", "hip hop", "house", "indie", "industrial", "j-pop", "jazz",
    "k-pop", "latin", "lo-fi", "metal", "new wave", "pop", "post-punk", "post-rock", "punk",
    "r&b", "reggae", "rock", "schlager", "shoegaze", "singer-songwriter", "ska", "soul",
    "soundtrack", "synthpop", "techno", "trance", "trip-hop", "world",
})
"""Canonical genre names (the whitelist), as shown on the page and exported."""

NON_GENRE_TAGS: frozenset[str] = frozenset({
    "seen live", "favorites", "favourites", "favorite", "favourite", "my favorites", "love",
    "loved", "awesome", "beautiful", "amazing", "cool", "good", "best", "epic", "albums i own",
    "spotify", "check out", "under 2000 listeners", "male vocalists", "female vocalists",
    "female vocalist", "male vocalist", "british", "american", "german", "canadian", "swedish",
    "french", "uk", "usa", "50s", "60s", "70s", "80s", "90s", "00s", "10s", "2000s", "2010s",
    "instrumental", "acoustic", "cover", "covers", "live", "remix", "chill", "mellow",
})
"""Popular tags that describe something other than a genre (never a genre)."""

ALIASES: Mapping[str, str] = {
    # spellings
    "hip hop": "hip hop", "hiphop": "hip hop", "rap": "hip hop", "hip hop rap": "hip hop",
    "rap hip hop": "hip hop", "gangsta rap": "hip hop", "underground hip hop": "hip hop",
    "rnb": "r&b", "r&b": "r&b", "r and b": "r&b", "r'n'b": "r&b", "r n b": "r&b",
    "rhythm and blues": "r&b", "contemporary r&b": "r&b",
    "drum and bass": "drum and bass", "drum n bass": "drum and bass",
    "drum'n'bass": "drum and bass", "drum&bass": "drum and bass", "dnb": "drum and bass",
    "d&b": "drum and bass", "drumnbass": "drum and bass", "drum 'n' bass": "drum and bass",
    "jungle": "drum and bass", "r 'n' b": "r&b",
    "trip hop": "trip-hop", "triphop": "trip-hop",
    "post rock": "post-rock", "postrock": "post-rock",
    "post punk": "post-punk", "postpunk": "post-punk",
    "kpop": "k-pop", "k pop": "k-pop", "korean pop": "k-pop",
    "jpop": "j-pop", "j pop": "j-pop", "japanese pop": "j-pop",
    "lofi": "lo-fi", "lo fi": "lo-fi", "lo fi hip hop": "lo-fi",
    "singer songwriter": "singer-songwriter", "singersongwriter": "singer-songwriter",
    "synth pop": "synthpop", "electropop": "synthpop", "electro pop": "synthpop",
    "soundtracks": "soundtrack", "ost": "soundtrack", "score": "soundtrack",
    "film score": "soundtrack", "video game music": "soundtrack", "game music": "soundtrack",
    "shoegazing": "shoegaze", "dream pop": "shoegaze",
    # sub-genres merged into their family, so shares stay readable
    "alternative rock": "alternative", "alt rock": "alternative", "alt": "alternative",
    "indie rock": "indie", "indie pop": "indie", "britpop": "indie",
    "electronica": "electronic", "electro": "electronic", "edm": "electronic",
    "idm": "electronic", "chillwave": "electronic", "synthwave": "electronic",
    "eurodance": "dance", "dance pop": "dance",
    "deep house": "house", "tech house": "house", "progressive house": "house",
    "minimal techno": "techno", "minimal": "techno",
    "progressive trance": "trance", "psytrance": "trance", "psychedelic trance": "trance",
    "brostep": "dubstep",
    "dark ambient": "ambient", "chillout": "downtempo", "chill out": "downtempo",
    "classic rock": "rock", "hard rock": "rock", "progressive rock": "rock",
    "prog rock": "rock", "psychedelic rock": "rock", "garage rock": "rock",
    "blues rock": "rock", "soft rock": "rock", "rock and roll": "rock", "rock n roll": "rock",
    "rock'n'roll": "rock", "stoner rock": "rock", "j rock": "rock", "jrock": "rock",
    "heavy metal": "metal", "death metal": "metal", "black metal": "metal",
    "thrash metal": "metal", "doom metal": "metal", "nu metal": "metal", "power metal": "metal",
    "progressive metal": "metal", "metalcore": "metal", "deathcore": "metal",
    "punk rock": "punk", "pop punk": "punk", "hardcore punk": "punk",
    "post hardcore": "hardcore", "screamo": "emo",
    "neo soul": "soul", "motown": "soul", "northern soul": "soul",
    "p funk": "funk", "smooth jazz": "jazz", "acid jazz": "jazz", "jazz fusion": "jazz",
    "free jazz": "jazz", "bebop": "jazz", "vocal jazz": "jazz",
    "delta blues": "blues", "chicago blues": "blues",
    "indie folk": "folk", "folk rock": "folk", "contemporary folk": "folk", "americana": "folk",
    "alt country": "country", "bluegrass": "country",
    "baroque": "classical", "opera": "classical", "contemporary classical": "classical",
    "modern classical": "classical", "neoclassical": "classical",
    "roots reggae": "reggae", "dancehall": "reggae", "dub": "reggae", "ska punk": "ska",
    "reggaeton": "latin", "salsa": "latin", "bossa nova": "latin", "latin pop": "latin",
    "cumbia": "latin", "world music": "world", "afrobeat": "world", "afrobeats": "world",
    "nu disco": "disco", "italo disco": "disco",
    "avant garde": "experimental", "noise": "experimental", "ebm": "industrial",
    "pop rock": "pop",
}
"""Normalized tag -> canonical genre (spellings, and sub-genres merged into their family)."""

_SEPARATORS = re.compile(r"[-_/\\.]+")
_AROUND_AMPERSAND = re.compile(r"\s*&\s*")
_SPACES = re.compile(r"\s+")


def tag_key(tag: str) -> str:
    """The tag normalized for lookup: NFKC, casefolded, curly quotes straightened, '-', '_',
    '/', '.' as spaces, no spaces around '&', whitespace collapsed ("Hip-Hop" -> "hip hop")."""
    text = unicodedata.normalize("NFKC", tag).casefold().replace("\u2019", "'")
    text = _SEPARATORS.sub(" ", text)
    text = _AROUND_AMPERSAND.sub("&", text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class GenreRules:
    """The mapping in force: built-in constants plus the user's aliases and threshold."""

    min_weight: int = DEFAULT_MIN_WEIGHT
    user_aliases: Mapping[str, str] = field(default_factory=dict)
    """Normalized tag -> genre name ('' ignores the tag); from `analytics.genre_aliases`."""
    _seen: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, min_weight: int = DEFAULT_MIN_WEIGHT,
              aliases: Mapping[str, str] | None = None) -> GenreRules:
        """Rules with the user's `aliases` (raw "tag" -> "genre" text, as configured)."""
        user: dict[str, str] = {}
        for tag, genre in (aliases or {}).items():
            target = tag_key(genre)
            user[tag_key(tag)] = ALIASES.get(target, target)
        return cls(min_weight=min_weight, user_aliases=user)

    @property
    def genres(self) -> frozenset[str]:
        """The whitelist in force (built-in genres plus the user's new names)."""
        return GENRES | {g for g in self.user_aliases.values() if g}

    def genre_of(self, tag: str) -> str | None:
        """The canonical genre of one raw tag, None when the tag is not a genre."""
        if tag in self._seen:
            return self._seen[tag]
        genre = self._lookup(tag_key(tag))
        self._seen[tag] = genre
        return genre

    def _lookup(self, key: str) -> str | None:
        if key in self.user_aliases:
            return self.user_aliases[key] or None
        if key in NON_GENRE_TAGS:
            return None
        genre = ALIASES.get(key, key)
        return genre if genre in GENRES else None

    def artist_genres(self, artist: str, tags: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
        """The artist's genres as (genre, weight), best first (weight desc, then name), at most
        MAX_GENRES_PER_ARTIST; tags below min_weight or named like the artist don't count."""
        own_name = tag_key(artist)
        best: dict[str, int] = {}
        for tag, weight in tags:
            if weight < self.min_weight or tag_key(tag) == own_name:
                continue
            genre = self.genre_of(tag)
            if genre is not None and weight > best.get(genre, -1):
                best[genre] = weight
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:MAX_GENRES_PER_ARTIST]

    def fingerprint(self) -> str:
        """A short digest of everything the mapping depends on (stored genres are rebuilt
        when it changes)."""
        data = [RULES_VERSION, self.min_weight, MAX_GENRES_PER_ARTIST,
                sorted(self.user_aliases.items())]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]
