"""One parametrised table per normalization rule (beets' style): raw string -> expected key."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.matching.characters import (
    DASH_MAP,
    DEFAULT_IGNORABLE_RANGES,
    DIACRITIC_RANGES,
    ELLIPSIS_MAP,
    QUOTE_MAP,
    TRANSLITERATIONS,
    fold,
)
from daemon.matching.normalize import (
    ALBUM_EDITIONS,
    AND_WORDS,
    EQUIVALENT_SUFFIXES,
    FEATURE_PATTERNS,
    GENERIC_VERSION,
    LEADING_ARTICLES,
    LIVE_ALBUM_PATTERNS,
    VERSION_FILLER,
    VERSION_MARKERS,
    WORD_EQUIVALENTS,
    artist_credits,
    is_live_album,
    normalize_album,
    normalize_artist,
    normalize_title,
    performer_credits,
)
from daemon.matching.numbering import NUMBERING_WORDS, numbers_conflict, title_numbers

SUNFLOWER = "sunflower spider man into the spider verse"


def title_key(raw: str) -> str:
    return normalize_title(raw).key


@pytest.mark.parametrize("char", sorted(QUOTE_MAP))
def test_quote_map_every_quote(char: str) -> None:
    assert fold(f"a{char}b") == f"a{QUOTE_MAP[char]}b"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Sweet Child o\N{RIGHT SINGLE QUOTATION MARK} Mine", "sweet child o mine"),
        ("Sweet Child O' Mine", "sweet child o mine"),
        # NFKC alone would make the acute accent a space and a combining mark.
        ("Don\N{ACUTE ACCENT}t Stop", "dont stop"),
        ("“Heroes”", "heroes"),
        ('"Heroes"', "heroes"),
        ("Let \N{RIGHT SINGLE QUOTATION MARK}Em In", "let em in"),
    ],
)
def test_quote_map(raw: str, key: str) -> None:
    assert title_key(raw) == key


@pytest.mark.parametrize("char", sorted(DASH_MAP))
def test_dash_map_every_dash_splits_a_suffix(char: str) -> None:
    assert title_key(f"Song {char} 2011 Remaster") == "song"
    assert fold(f"Spider{char}Man") == "spider-man"


@pytest.mark.parametrize("char", sorted(ELLIPSIS_MAP))
def test_ellipsis_map(char: str) -> None:
    assert normalize_album(f"Takk{char}") == normalize_album("Takk...") == "takk"


@pytest.mark.parametrize(("char", "ascii"), sorted(TRANSLITERATIONS.items()))
def test_transliterations(char: str, ascii: str) -> None:
    assert fold(char) == ascii
    assert fold(char.upper()) == ascii or char.upper() == char


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Beyoncé", "beyonce"),
        ("Hoppípolla", "hoppipolla"),
        ("Sigur Rós", "sigur ros"),
        ("Μίκης Θεοδωράκης", "μικησ θεοδωρακησ"),  # casefold also unifies the final sigma
        ("Ångström", "angstrom"),
        ("がんばれ", "がんばれ"),  # the voicing mark is not in DIACRITIC_RANGES
        ("हिन्दी", "हिन्दी"),
        ("坂本龍一", "坂本龍一"),
    ],
)
def test_diacritic_ranges(raw: str, folded: str) -> None:
    assert DIACRITIC_RANGES
    assert fold(raw) == folded


@pytest.mark.parametrize(
    "code", sorted({c for first, last in DEFAULT_IGNORABLE_RANGES for c in (first, last)})
)
def test_default_ignorable_inside_a_word(code: int) -> None:
    """Invisible characters are no word break: an exact match is not sent to the queue."""
    char = chr(code)
    assert fold(f"Lu{char}cky") == "lucky"
    assert normalize_title(f"Get Lu{char}cky (feat. Pha{char}rrell)") == normalize_title(
        "Get Lucky"
    )
    assert normalize_artist(f"Daft{char} Punk") == "daft punk"
    assert normalize_album(f"{char}Random Access Memories{char}") == "random access memories"


@pytest.mark.parametrize("code", [0x00AC, 0x200A, 0x2010, 0x3163, 0xFF9F])
def test_default_ignorable_neighbours_stay(code: int) -> None:
    """The code points just outside the ranges are not removed."""
    assert fold(f"a{chr(code)}b") != "ab"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Simon & Garfunkel", "simon garfunkel"),
        ("Simon and Garfunkel", "simon garfunkel"),
        ("Simon + Garfunkel", "simon garfunkel"),
        ("Calvin Harris, Dua Lipa", "calvin harris dua lipa"),
        ("Calvin Harris & Dua Lipa", "calvin harris dua lipa"),
        ("Earth, Wind & Fire", "earth wind fire"),
    ],
)
def test_and_words_in_artists(raw: str, key: str) -> None:
    assert set(AND_WORDS) == {"&", "+", "and"}
    assert normalize_artist(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Rock & Roll", "rock and roll"),
        ("Rock and Roll", "rock and roll"),
        ("Me + You", "me and you"),
        ("R&B Song", "r and b song"),
    ],
)
def test_and_words_in_titles(raw: str, key: str) -> None:
    assert title_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("The Beatles", "beatles"),
        ("Beatles", "beatles"),
        ("Beatles, The", "beatles"),
        ("the killers", "killers"),
        ("The The", "the"),  # nothing would be left
        ("Theory of a Deadman", "theory of a deadman"),
        ("Florence + The Machine", "florence the machine"),
    ],
)
def test_leading_articles(raw: str, key: str) -> None:
    assert "the" in LEADING_ARTICLES
    assert normalize_artist(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Another Brick in the Wall, Pt. 2", "another brick in the wall part 2"),
        ("Another Brick in the Wall (Part 2)", "another brick in the wall part 2"),
    ],
)
def test_word_equivalents(raw: str, key: str) -> None:
    assert WORD_EQUIVALENTS["pt"] == "part"
    assert title_key(raw) == key


def test_word_equivalents_in_albums() -> None:
    assert normalize_album("Greatest Hits Vol. 1") == normalize_album("Greatest Hits Volume 1")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Get Lucky (feat. Pharrell Williams & Nile Rodgers)", "get lucky"),
        ("Get Lucky [ft. Pharrell]", "get lucky"),
        ("Get Lucky (featuring Pharrell)", "get lucky"),
        ("Señorita (with Camila Cabello)", "senorita"),
        ("Stan featuring Dido", "stan"),
        ("Stan feat. Dido", "stan"),
        ("Song - feat. Someone", "song"),
        # The patterns must not fire inside words or on look-alikes (beets' regression).
        ("Draft Left", "draft left"),
        ("50 ft Queenie", "50 ft queenie"),
        ("A Great Feat", "a great feat"),
        ("Stay - With Me", "stay with me"),
    ],
)
def test_feature_patterns_in_titles(raw: str, key: str) -> None:
    assert len(FEATURE_PATTERNS) == 3
    assert title_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Daft Punk feat. Pharrell Williams", "daft punk"),
        ("Mark Ronson ft. Bruno Mars", "mark ronson"),
        ("Mark Ronson featuring Bruno Mars", "mark ronson"),
        ("Mark Ronson (feat. Bruno Mars)", "mark ronson"),
        ("Little Feat", "little feat"),
    ],
)
def test_feature_patterns_in_artists(raw: str, key: str) -> None:
    assert normalize_artist(raw) == key


@pytest.mark.parametrize(
    "raw",
    [
        "Song - 2014 Remaster",
        "Song (Remastered 2011)",
        "Song [Remastered]",
        "Song - Remastered 2010",
        "Song - 2009 Digital Remaster",
        "Song (2011 Remastered Version)",
        "Song - 24 Bit Remastered",
        "Song - 40th Anniversary Remaster",
        "Song - Single Version",
        "Song - Album Version",
        "Song (Mono)",
        "Song (Stereo)",
        "Song - Mono / 1997 Remastered",
        "Song - Explicit",
        "Song (Explicit Version)",
        "Song - Radio Edit",
        "Song (Edit)",
        "Song - Original Mix",
        "Song (Bonus Track)",
        "Song - 2011 - Remaster",
        "Song (1999)",
        "SONG",
        "Song ()",
    ],
)
def test_equivalent_suffixes(raw: str) -> None:
    assert EQUIVALENT_SUFFIXES
    assert normalize_title(raw) == normalize_title("Song")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Wings at the Speed of Sound (Archive Collection)", "wings at the speed of sound"),
        ("A Night at the Opera (2011 Remaster)", "a night at the opera"),
        ("Rumours (Super Deluxe)", "rumours"),
        ("Street Songs (Deluxe Edition)", "street songs"),
        ("Surfer Rosa [2009 Remaster]", "surfer rosa"),
        ("London Calling (Expanded Edition)", "london calling"),
        ("Nevermind (20th Anniversary Edition)", "nevermind"),
        ("Abbey Road - Remastered", "abbey road"),
        ("Mellon Collie (Disc 2)", "mellon collie"),
        ("Fearless (Taylor's Version)", "fearless taylors version"),  # another album
        ("The Best of Earth, Wind & Fire, Vol. 1", "the best of earth wind and fire volume 1"),
    ],
)
def test_album_editions(raw: str, key: str) -> None:
    assert ALBUM_EDITIONS
    assert normalize_album(raw) == key


def test_album_editions_kept_on_request() -> None:
    assert normalize_album("Rumours (Super Deluxe)", strip_editions=False) == "rumours super deluxe"


@pytest.mark.parametrize(
    ("raw", "base", "markers"),
    [
        ("Jessica - Live at Walnut Creek, Raleigh, NC - July 1994", "jessica", {"live"}),
        ("What Did You Mean (When You Said Love) [Live]", "what did you mean when you said love",
         {"live"}),
        ("Dancing On My Own - Calvin Harris Remix", "dancing on my own", {"remix"}),
        ("Real Love - 1996 Mix", "real love", {"remix"}),
        ("Lean On - Kygo Edit", "lean on", {"remix"}),
        ("One More Time - Extended Mix", "one more time", {"remix"}),
        ("Wonderwall - Acoustic", "wonderwall", {"acoustic"}),
        ("About a Girl (MTV Unplugged)", "about a girl", {"live", "acoustic"}),
        ("Smells Like Teen Spirit - Demo", "smells like teen spirit", {"demo"}),
        ("Teardrop (Instrumental)", "teardrop", {"instrumental"}),
        ("Hello (Karaoke Version)", "hello", {"karaoke"}),
        ("Love Story (Taylor's Version)", "love story", {"taylor's version"}),
        ("Song - Re-Recorded", "song", {"re-recorded"}),
        ("Song (A Cappella)", "song", {"a cappella"}),
        ("Song - Alternate Take", "song", {"alternate"}),
        ("Song (Live at X [2011 Remaster])", "song", {"live"}),
    ],
)  # fmt: skip
def test_version_markers(raw: str, base: str, markers: set[str]) -> None:
    assert {name for name, _ in VERSION_MARKERS} >= markers
    normalized = normalize_title(raw)
    assert (normalized.base, normalized.markers) == (base, markers)
    assert normalized.key != normalized.base


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Song - Live", "song (live)"),
        ("Song (Live)", "song (live)"),
        ("Song [Live Version]", "song (live)"),
        ("Song - Live / Remastered 2019", "song (live)"),
        ("Levels - Skrillex Remix", "levels (skrillex remix)"),
        ("Levels (Skrillex Remix)", "levels (skrillex remix)"),
        ("Song (Version)", "song (version)"),  # nothing but filler: kept
    ],
)
def test_version_filler(raw: str, key: str) -> None:
    assert "version" in VERSION_FILLER
    assert title_key(raw) == key


@pytest.mark.parametrize("raw", ["Two Of Us - Naked Version", "Song (Spanish Version)"])
def test_generic_version(raw: str) -> None:
    assert normalize_title(raw).markers == {GENERIC_VERSION[0]}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Live Forever", "live forever"),  # a marker word in the name itself is no marker
        ("(Just Like) Starting Over", "just like starting over"),
        ("Sunflower (Spider\N{HYPHEN}Man: Into the Spider\N{HYPHEN}Verse)", SUNFLOWER),
        ("Sunflower - Spider-Man: Into the Spider-Verse", SUNFLOWER),
        ("Mr. Brightside", "mr brightside"),
        ("I.O.U.", "iou"),
        ("[Untitled]", "untitled"),
        ("?", "?"),
        ("...", "..."),
    ],
)  # fmt: skip
def test_names_kept(raw: str, key: str) -> None:
    assert title_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("R.E.M.", "rem"),
        ("!!!", "!!!"),
        ("Guns N\N{RIGHT SINGLE QUOTATION MARK} Roses", "guns n roses"),
        ("", ""),
    ],
)
def test_artist_keys(raw: str, key: str) -> None:
    assert normalize_artist(raw) == key


@pytest.mark.parametrize(
    ("raw", "credits"),
    [
        ("Calvin Harris, Dua Lipa", ["calvin harris", "dua lipa"]),
        ("A feat. B & C", ["a", "b", "c"]),
        ("Beatles, The", ["beatles"]),
        ("Little Feat", ["little feat"]),
    ],
)
def test_artist_credits(raw: str, credits: list[str]) -> None:
    assert artist_credits(raw) == credits


@pytest.mark.parametrize(
    "album",
    [
        "Live!",
        "Live",
        "Live at Leeds",
        "Live at Leeds (Deluxe Edition)",
        "Live in Japan",
        "Live from Austin, TX",
        "Live 1975-85",
        "Bob Dylan Live 1966",
        "MTV Unplugged in New York",
        "Unplugged",
        "Elvis in Concert",
        "The Concert in Central Park",
        "The Köln Concert",
        "BBC Sessions",
        "Sessions at West 54th",
        "Weld (Live)",
        "Rust Never Sleeps [Live at the Cow Palace]",
        "Stop Making Sense - Live",
    ],
)
def test_live_albums(album: str) -> None:
    assert LIVE_ALBUM_PATTERNS
    assert is_live_album(album)


@pytest.mark.parametrize(
    "album",
    [
        "Live Through This",
        "Live Through This (Deluxe Edition)",
        "Live Forever: The Best of Oasis",
        "Live and Let Die",
        "Live Your Life",
        "Alive",
        "The World We Live In",
        "Concert Arias",
        "Brandenburg Concertos",
        "Oliver!",
        "Delivery",
        "",
    ],
)
def test_not_live_albums(album: str) -> None:
    assert not is_live_album(album)


@pytest.mark.parametrize(
    ("raw", "credits"),
    [
        ("Queen & David Bowie", {"queen", "david bowie"}),
        ("Daft Punk feat. Pharrell Williams", {"daft punk"}),
        ("Mark Ronson (feat. Bruno Mars)", {"mark ronson"}),
        ("Berliner Philharmoniker, Herbert von Karajan", {"berliner philharmoniker",
                                                         "herbert von karajan"}),
        ("The Beatles", {"beatles"}),
        ("", set()),
    ],
)  # fmt: skip
def test_performer_credits(raw: str, credits: set[str]) -> None:
    assert performer_credits(raw) == credits


@pytest.mark.parametrize(
    ("raw", "literal"),
    [
        ("In the Flesh?", "in the flesh?"),
        ("In The Flesh? - 2011 Remaster", "in the flesh?"),
        ("Get Lucky (feat. Pharrell)", "get lucky"),
        ("Song - Live", "song (live)"),
        ("?", "?"),
    ],
)
def test_title_literal(raw: str, literal: str) -> None:
    assert normalize_title(raw).literal == literal


@pytest.mark.parametrize(
    ("raw", "numbers"),
    [
        ("Another Brick in the Wall, Part II", "2"),
        ("Another Brick in the Wall (Pt. 2) - 2011 Remaster", "2"),
        ('Concerto No. 1 in E Major, RV 269 "Spring": III. Allegro', "1 3 269"),
        ("Symphony No. 9 in C Major, D. 944: IV. Allegro vivace", "4 9 944"),
        ("Act I, Scene II: Aria", "1 2"),
        ("Rocky IV", "4"),
        # A lone I, V or X outside a numbered place is a word, not a number.
        ("I Want You", ""),
        ("Song, I Love You", ""),
        ("Mix It Up", ""),
        ("Civil War", ""),
        ("24K Magic", ""),
    ],
)
def test_title_numbers(raw: str, numbers: str) -> None:
    assert "part" in NUMBERING_WORDS
    assert title_numbers(normalize_title(raw).literal) == numbers


def test_numbers_conflict() -> None:
    a = np.array(["1 3 269", "2", "2", "", "3 9", "1 1"], dtype=object)
    b = np.array(["1 1 269", "2 2011", "2", "4", "4 9", "1"], dtype=object)
    assert numbers_conflict(a, b).tolist() == [True, False, False, False, True, False]
