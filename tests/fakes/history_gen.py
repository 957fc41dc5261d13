"""Deterministic generator of realistic last.fm scrobble histories (newest first).

The history is built from a synthetic catalogue (a few thousand artists with albums and
tracks) and a listening model (album runs, artist shuffles, single plays, sessions separated
by breaks). It carries the quirks a real account has: missing MBIDs (~30 %), diacritics and
non-Latin names, remaster suffixes, featured artists, tracks without an album, loved flags,
a few device-sync bursts (the same track 2-3 times in one second, or several tracks in one
second) and a handful of legacy items with ``uts`` 0 at the very end.

Everything is drawn from ``random.Random(seed)``; nothing depends on hash randomisation,
so the same arguments give the same list in every process.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from daemon.scrobble import Scrobble

DEFAULT_END_UTS = 1_783_063_531  # 03 Jul 2026, 07:25 UTC (newest item of the 2026 capture)
DEFAULT_START_UTS = 1_104_537_600  # 01 Jan 2005, 00:00 UTC
LEGACY_ITEMS = 5  # uts 0 items appended at the end (when n is large enough)

_LATIN_SYLLABLES = (
    "ka", "lo", "mi", "ra", "ten", "vo", "sel", "mar", "dan", "ri", "the", "no", "bel", "gor",
    "fin", "sta", "lu", "ven", "cor", "al", "ex", "tra", "mo", "nik", "sun", "zel", "pi", "ho",
)
_ACCENTED_SYLLABLES = ("é", "ö", "ñ", "ça", "ø", "å", "ü", "ã", "ís", "ž", "ł", "ő")
_NON_LATIN_NAMES = (
    ("ア", "イ", "カ", "サ", "タ", "ナ", "ミ", "ラ", "ン", "ユ"),  # katakana
    ("ра", "до", "ми", "ка", "сто", "ль", "жи", "вы"),  # noqa: RUF001 (cyrillic)
    ("하", "늘", "바", "다", "사", "랑", "별", "빛"),  # hangul
    ("Α", "λ", "φ", "ο", "ρ", "ί", "ζ", "ε"),  # noqa: RUF001 (greek)
    ("夜", "空", "花", "風", "月", "海", "雪", "光"),  # han
)
_WORDS = (
    "Love", "Night", "Blue", "Fire", "Dream", "River", "Heart", "Light", "Ghost", "Summer",
    "Rain", "City", "Gold", "Shadow", "Song", "Road", "Home", "Stars", "Time", "Echo", "Wild",
    "Silver", "Machine", "Paper", "Ocean", "Glass", "Morning", "Electric", "Lonely", "Sweet",
)
_ODD_TITLES = (
    "Don't Stop", "Rock 'n' Roll", "AC/DC Tribute", "1 + 1", "Mashup: This / That",
    'The "Real" One', "Ça Plane Pour Moi", "Ünïcödé Blues", "Hello?", "#1 Hit", "C'est la vie",
    "Mr. & Mrs.", "100%", "[Untitled]",
)
_TRACK_SUFFIXES = (
    " - Remastered 2009", " - 2014 Remaster", " - Remastered", " (Remastered)", " - Live",
    " - Radio Edit", " - Mono Version", " (Demo)", " - 2011 Remaster",
)
_ALBUM_SUFFIXES = (
    " (Remastered)", " (Deluxe Edition)", " (Expanded Edition)", " [Live]", " (Super Deluxe)",
)
_ARTIST_PREFIXES = ("The ", "DJ ", "Los ", "Les ", "MC ", "")
_CONTROL_NAMES = ("Tab\tName", "Zero\u200bWidth", "Bell\x07Song", "Line\x0bFeed")


@dataclass(frozen=True, slots=True)
class Track:
    """One catalogue track; scrobbles reuse its (interned) strings."""

    artist: str
    title: str
    album: str
    artist_mbid: str
    track_mbid: str
    album_mbid: str
    duration: int
    loved: int


@dataclass(slots=True)
class Artist:
    """A catalogue artist: its tracks grouped by album (album "" holds loose singles)."""

    name: str
    albums: list[list[Track]] = field(default_factory=list)


class _Names:
    """Draws names and MBIDs from one seeded RNG."""

    def __init__(self, rng: random.Random, mbid_ratio: float, odd_chars: bool) -> None:
        self.rng = rng
        self.mbid_ratio = mbid_ratio
        self.odd_chars = odd_chars

    def mbid(self) -> str:
        if self.rng.random() >= self.mbid_ratio:
            return ""
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def word(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.04:
            return "".join(rng.choices(rng.choice(_NON_LATIN_NAMES), k=rng.randint(2, 4)))
        parts = rng.choices(_LATIN_SYLLABLES, k=rng.randint(2, 3))
        if roll < 0.16:
            parts[rng.randrange(len(parts))] = rng.choice(_ACCENTED_SYLLABLES)
        return "".join(parts).capitalize()

    def artist(self, index: int) -> str:
        rng = self.rng
        roll = rng.random()
        if self.odd_chars and index < len(_CONTROL_NAMES):
            return _CONTROL_NAMES[index]
        if roll < 0.05:
            return f"{self.word()} & {rng.choice(('The ', ''))}{self.word()}s"
        if roll < 0.08:
            return f"{self.word()}'s {rng.choice(_WORDS)}"
        if roll < 0.10:
            return f"{self.word()}/{self.word()}"
        if roll < 0.45:
            return f"{self.word()} {self.word()}"
        return f"{rng.choice(_ARTIST_PREFIXES)}{self.word()}"

    def title(self, featured: list[str]) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            title = rng.choice(_ODD_TITLES)
        elif roll < 0.10:
            title = self.word()
        else:
            title = " ".join(rng.sample(_WORDS, rng.randint(1, 3)))
        if featured and rng.random() < 0.06:
            title += f" (feat. {rng.choice(featured)})"
        if rng.random() < 0.06:
            title += rng.choice(_TRACK_SUFFIXES)
        return title

    def album(self) -> str:
        rng = self.rng
        title = " ".join(rng.sample(_WORDS, rng.randint(1, 2)))
        if rng.random() < 0.08:
            title += rng.choice(_ALBUM_SUFFIXES)
        return title


def build_catalogue(
    n_artists: int, *, seed: int = 0, mbid_ratio: float = 0.7, odd_chars: bool = False
) -> list[Artist]:
    """A deterministic catalogue of ``n_artists`` artists, each with albums of tracks."""
    rng = random.Random(f"catalogue-{seed}")
    names = _Names(rng, mbid_ratio, odd_chars)
    artist_names = _unique(names.artist(i) for i in range(n_artists * 2))[:n_artists]
    return [_build_artist(name, names, artist_names) for name in artist_names]


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _build_artist(name: str, names: _Names, all_artists: list[str]) -> Artist:
    rng = names.rng
    artist = Artist(name)
    artist_mbid = names.mbid()
    featured = [rng.choice(all_artists) for _ in range(2)]
    for album_no in range(rng.choices((1, 2, 3, 4, 6, 9), (20, 30, 25, 15, 7, 3))[0]):
        loose = album_no > 0 and rng.random() < 0.05
        album = "" if loose else names.album()
        album_mbid = "" if loose else names.mbid()
        tracks = [
            Track(
                artist=name,
                title=names.title(featured),
                album=album,
                artist_mbid=artist_mbid,
                track_mbid=names.mbid(),
                album_mbid=album_mbid,
                duration=rng.randint(100, 420),
                loved=1 if rng.random() < 0.04 else 0,
            )
            for _ in range(rng.randint(2, 6) if loose else rng.randint(6, 14))
        ]
        artist.albums.append(tracks)
    return artist


def generate_history(
    n: int,
    *,
    seed: int = 0,
    start_uts: int = DEFAULT_START_UTS,
    end_uts: int = DEFAULT_END_UTS,
    n_artists: int | None = None,
    mbid_ratio: float = 0.7,
    bursts: int | None = None,
    legacy: int | None = None,
    odd_chars: bool = False,
) -> list[Scrobble]:
    """``n`` scrobbles newest first, spread over ``[start_uts, end_uts]`` (inclusive).

    ``n_artists`` defaults to a few thousand (fewer for small histories), ``bursts`` (same-second
    device-sync groups) to about one per 20,000 scrobbles plus 3, ``legacy`` (uts 0 items at the
    end) to 5 when ``n >= 100``. ``odd_chars`` gives a few artists control/zero-width chars.
    """
    if n <= 0:
        return []
    if end_uts <= start_uts:
        raise ValueError("end_uts must be after start_uts")
    rng = random.Random(f"history-{seed}")
    if n_artists is None:
        n_artists = max(5, min(3000, n // 40))
    if legacy is None:
        legacy = LEGACY_ITEMS if n >= 100 else 0
    if bursts is None:
        bursts = n // 20_000 + 3 if n >= 100 else 0
    legacy = min(legacy, n)
    catalogue = build_catalogue(n_artists, seed=seed, mbid_ratio=mbid_ratio, odd_chars=odd_chars)
    tracks, clock = _listen(rng, catalogue, n - legacy, bursts)
    uts = clock.fit(start_uts, end_uts)
    new = tuple.__new__
    out = [
        new(Scrobble, (u, t.artist, t.title, t.album, t.artist_mbid, t.track_mbid, t.album_mbid,
                       t.loved))
        for u, t in zip(uts, tracks, strict=True)
    ]
    for t in _legacy_tracks(rng, catalogue, legacy):
        out.append(Scrobble(0, t.artist, t.title, t.album, t.artist_mbid, t.track_mbid,
                            t.album_mbid, t.loved))
    return out


def _legacy_tracks(rng: random.Random, catalogue: list[Artist], k: int) -> list[Track]:
    return [rng.choice(rng.choice(rng.choice(catalogue).albums)) for _ in range(k)]


def _listen(
    rng: random.Random, catalogue: list[Artist], n: int, bursts: int
) -> tuple[list[Track], _Clock]:
    """Tracks played (newest first) and the clock of when each was played."""
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(catalogue))]
    cum = list(itertools.accumulate(weights))
    burst_at = set(rng.sample(range(n), min(bursts, n)))
    tracks: list[Track] = []
    clock = _Clock()
    while len(tracks) < n:
        artist = catalogue[rng.choices(range(len(catalogue)), cum_weights=cum)[0]]
        for track in _session(rng, artist):
            group = _burst(rng, catalogue, track) if len(tracks) in burst_at else [track]
            tracks.extend(group)
            clock.stamp(len(group))
            clock.play += track.duration
            if len(tracks) >= n:
                break
        clock.pause += _break(rng)
    del tracks[n:]
    clock.truncate(n)
    return tracks, clock


class _Clock:
    """Time before "now" of each play, kept as listening time plus break time."""

    def __init__(self) -> None:
        self.play = 0
        self.pause = 0
        self.plays: list[int] = []
        self.pauses: list[int] = []

    def stamp(self, count: int) -> None:
        self.plays.extend([self.play] * count)
        self.pauses.extend([self.pause] * count)

    def truncate(self, n: int) -> None:
        del self.plays[n:], self.pauses[n:]

    def fit(self, start_uts: int, end_uts: int) -> list[int]:
        """Map onto ``[start_uts, end_uts]``: breaks stretch or shrink to fill the span;
        when even the music does not fit, everything shrinks. Ties and order are kept."""
        if not self.plays:
            return []
        span = end_uts - start_uts
        play_total, pause_total = self.plays[-1], self.pauses[-1]
        if play_total + pause_total == 0:
            return [end_uts] * len(self.plays)
        if play_total <= span and pause_total > 0:
            k = (span - play_total) / pause_total
            return [end_uts - p - int(b * k) for p, b in zip(self.plays, self.pauses, strict=True)]
        k = span / (play_total + pause_total)
        return [end_uts - int((p + b) * k) for p, b in zip(self.plays, self.pauses, strict=True)]


def _session(rng: random.Random, artist: Artist) -> list[Track]:
    roll = rng.random()
    album = rng.choice(artist.albums)
    if roll < 0.55:
        start = rng.randrange(len(album))
        return album[start : start + rng.randint(min(3, len(album)), len(album))]
    if roll < 0.8:
        pool = [track for tracks in artist.albums for track in tracks]
        return rng.choices(pool, k=rng.randint(2, 8))
    return [rng.choice(album)]


def _burst(rng: random.Random, catalogue: list[Artist], track: Track) -> list[Track]:
    """A device sync: the same track 2-3 times, or a handful of tracks, in one second."""
    if rng.random() < 0.7:
        return [track] * rng.randint(2, 3)
    album = rng.choice(rng.choice(catalogue).albums)
    return [track, *rng.sample(album, min(len(album), rng.randint(2, 5)))]


def _break(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.6:
        return rng.randint(5, 600)
    if roll < 0.9:
        return rng.randint(600, 12 * 3600)
    return rng.randint(12 * 3600, 6 * 86400)


def distinct_tracks(history: list[Scrobble]) -> int:
    """How many distinct (artist, title, album) a history holds (for reports and tests)."""
    return len({(s.artist, s.title, s.album) for s in history})
