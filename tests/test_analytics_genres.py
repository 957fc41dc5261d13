"""Tags -> genres: canonical names, merges, non-genre tags, threshold, the user's aliases."""

from __future__ import annotations

import pytest

from daemon.analytics.genres import (
    ALIASES,
    GENRES,
    MAX_GENRES_PER_ARTIST,
    NON_GENRE_TAGS,
    GenreRules,
    tag_key,
)
from daemon.config.checks import parse_aliases

RULES = GenreRules.build()


@pytest.mark.parametrize(("tag", "genre"), [
    ("hip hop", "hip hop"), ("hip-hop", "hip hop"), ("Hip-Hop", "hip hop"),
    ("HIP HOP", "hip hop"), ("hiphop", "hip hop"), ("Hip_Hop", "hip hop"), ("rap", "hip hop"),
    ("Hip-Hop/Rap", "hip hop"), ("rnb", "r&b"), ("r&b", "r&b"), ("R & B", "r&b"),
    ("RnB", "r&b"), ("Rhythm and Blues", "r&b"), ("drum and bass", "drum and bass"),
    ("Drum & Bass", "drum and bass"), ("dnb", "drum and bass"), ("drum n bass", "drum and bass"),
    ("K-Pop", "k-pop"), ("kpop", "k-pop"), ("Trip Hop", "trip-hop"), ("post rock", "post-rock"),
    ("Singer-Songwriter", "singer-songwriter"), ("singer/songwriter", "singer-songwriter"),
    ("alternative rock", "alternative"), ("indie rock", "indie"), ("Electronica", "electronic"),
    ("heavy metal", "metal"), ("classic rock", "rock"), ("Lo-Fi", "lo-fi"),
    ("\uff52\uff4f\uff43\uff4b", "rock"), ("  jazz  ", "jazz"), ("Rock\u2019n\u2019Roll", "rock"),
])
def test_spellings_merge_into_one_canonical_genre(tag: str, genre: str) -> None:
    assert RULES.genre_of(tag) == genre


@pytest.mark.parametrize("tag", [
    "seen live", "Seen Live", "favorites", "favourite", "albums i own", "female vocalists",
    "british", "80s", "00s", "instrumental", "Audioslave", "awesome", "", "   ", "<script>",
])
def test_non_genre_tags_are_ignored(tag: str) -> None:
    assert RULES.genre_of(tag) is None


def test_every_canonical_genre_maps_to_itself_and_aliases_land_in_the_whitelist() -> None:
    for genre in GENRES:
        assert RULES.genre_of(genre) == genre, genre
    assert set(ALIASES.values()) <= GENRES
    assert not {tag_key(t) for t in NON_GENRE_TAGS} & GENRES


def test_artist_genres_rank_by_weight_drop_low_weights_and_own_name() -> None:
    tags = [("Hip-Hop", 100), ("seen live", 90), ("rap", 80), ("Jazz", 60), ("Kendrick", 55),
            ("soul", 9), ("funk", 10)]
    assert RULES.artist_genres("Kendrick", tags) == [("hip hop", 100), ("jazz", 60),
                                                     ("funk", 10)]
    assert RULES.artist_genres("Soul", [("soul", 100), ("pop", 50)]) == [("pop", 50)]
    assert RULES.artist_genres("X", []) == []


def test_ties_are_broken_by_name_and_the_list_is_capped() -> None:
    tags = [(g, 50) for g in ("rock", "jazz", "pop", "folk", "soul", "funk", "blues")]
    ranked = RULES.artist_genres("X", tags)
    assert ranked == [(g, 50) for g in ("blues", "folk", "funk", "jazz", "pop")]
    assert len(ranked) == MAX_GENRES_PER_ARTIST


@pytest.mark.parametrize(("weight", "expected"), [(0, ["rock", "pop"]), (10, ["rock", "pop"]),
                                                   (11, ["rock"]), (100, ["rock"])])
def test_threshold_is_configurable(weight: int, expected: list[str]) -> None:
    rules = GenreRules.build(min_weight=weight)
    assert [g for g, _ in rules.artist_genres("X", [("rock", 100), ("pop", 10)])] == expected


def test_user_aliases_add_merge_and_ignore() -> None:
    rules = GenreRules.build(aliases=parse_aliases(
        "Krautrock=Krautrock, chiptune=electronic, seen live=live music, rap=, nerdcore=Hip-Hop"))
    assert rules.genre_of("krautrock") == "krautrock"
    assert "krautrock" in rules.genres
    assert rules.genre_of("Chiptune") == "electronic"
    assert rules.genre_of("seen live") == "live music"  # the user's word wins
    assert rules.genre_of("rap") is None
    assert rules.genre_of("nerdcore") == "hip hop"
    assert rules.fingerprint() != RULES.fingerprint()
    assert GenreRules.build().fingerprint() == RULES.fingerprint()


@pytest.mark.parametrize("text", ["a", "=b", "a=b, c"])
def test_bad_alias_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        parse_aliases(text)
