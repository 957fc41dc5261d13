# ruff: noqa: RUF001  (Cyrillic, Greek and curly quotes in titles are the point of this file)
"""Deterministic generator of realistic Plex music libraries, for fixtures of any size.

`generate_library(n_tracks, seed=0)` returns a `Library` of artists, albums and tracks whose ids
are the `metadata_items.id` (= API ``ratingKey``) they get in the fixture DB. The same
``(n_tracks, seed)`` always gives the same library, and a smaller library is a prefix of a larger
one with the same seed (ids included), so tests can name rows by id.

What makes it realistic (these are the cases the matcher has to get right):

* the same song on its studio album, a "(2011 Remaster)" edition (titles " - Remastered 2011"),
  a "(Deluxe Edition)" (same titles on disc 1, bonus demos/acoustic/live takes on disc 2), the
  artist's "Greatest Hits", a "- Single" release and a "Various Artists" compilation; all share
  ``song_key`` and the MusicBrainz recording id, each has its own ``plex://track/`` guid;
* compilations: album artist "Various Artists", real track artist in ``original_title``;
* featured artists both ways Plex shows them: "Title (feat. X)" and
  ``original_title = "Artist feat. X"``;
* live albums ("Live at ...") whose tracks are other recordings ("Song - Live", "Song (Live)"
  or, treacherously, the plain title);
* diacritics (Sigur Rós, Beyoncé, Motörhead), Japanese, Cyrillic and Greek scripts, curly
  apostrophes, "&", multi-disc albums, a few unmatched albums with ``local://<id>`` guids and
  no MusicBrainz ids.

The first artists are a fixed, hand-written head (real names) that covers every case above, so
every library of at least `ALL_CASES_MIN_TRACKS` tracks contains all of them; the rest is
synthetic with the same cases at realistic rates. 200,000 tracks take 1-2 seconds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import count, product

VARIOUS_ARTISTS = "Various Artists"
ALL_CASES_MIN_TRACKS = 150
"""A library this big (or bigger) contains every realistic case listed in the module docstring."""

KIND_STUDIO = "studio"
KIND_REMASTER = "remaster"
KIND_DELUXE = "deluxe"
KIND_LIVE = "live"
KIND_COMPILATION = "compilation"  # Various Artists
KIND_BEST_OF = "best_of"  # one artist's greatest hits
KIND_SINGLE = "single"

ADDED_FROM = 1451606400  # 2016-01-01 UTC: when the fake user started adding music
ADDED_SECONDS_PER_TRACK = 1300  # 200,000 tracks span about 8 years


@dataclass(slots=True)
class Artist:
    """An artist row (metadata_type 8)."""

    id: int
    title: str
    title_sort: str
    guid: str
    mbid: str | None
    added_at: int
    genres: tuple[str, ...]


@dataclass(slots=True)
class Album:
    """An album row (metadata_type 9); ``artist_id`` is the album artist (Various Artists too)."""

    id: int
    artist_id: int
    title: str
    year: int
    kind: str
    guid: str
    mbid: str | None
    added_at: int
    genres: tuple[str, ...]
    studio: str | None


@dataclass(slots=True)
class Track:
    """A track row (metadata_type 10).

    ``index`` is the track number, ``disc`` the disc number (API ``parentIndex``),
    ``original_title`` the track artist when it differs from the album artist, ``song_key`` the
    identity of the underlying song across editions (tests' ground truth, not stored in Plex).
    """

    id: int
    album_id: int
    artist_id: int
    title: str
    index: int
    disc: int
    duration_ms: int
    guid: str
    mbid: str | None
    original_title: str | None
    added_at: int
    song_key: int
    deleted_at: int | None = None


@dataclass
class Library:
    """A generated music library; lists are in id order."""

    artists: list[Artist]
    albums: list[Album]
    tracks: list[Track]
    seed: int = 0

    @cached_property
    def artist_by_id(self) -> dict[int, Artist]:
        """Artists keyed by id."""
        return {a.id: a for a in self.artists}

    @cached_property
    def album_by_id(self) -> dict[int, Album]:
        """Albums keyed by id."""
        return {a.id: a for a in self.albums}

    @cached_property
    def track_by_id(self) -> dict[int, Track]:
        """Tracks keyed by id."""
        return {t.id: t for t in self.tracks}

    def album_of(self, track: Track) -> Album:
        """The track's album (its Plex parent)."""
        return self.album_by_id[track.album_id]

    def artist_of(self, track: Track) -> Artist:
        """The track's album artist (its Plex grandparent)."""
        return self.artist_by_id[track.artist_id]

    def track_artist(self, track: Track) -> str:
        """The artist a listener would name: ``original_title`` or else the album artist."""
        return track.original_title or self.artist_of(track).title

    def tracks_of_song(self, song_key: int) -> list[Track]:
        """Every edition of one song (album, remaster, deluxe, compilation, ...)."""
        return [t for t in self.tracks if t.song_key == song_key]


# --- vocabulary ------------------------------------------------------------------------------

GENRES = (
    "Rock", "Pop", "Alternative", "Electronic", "Hip-Hop", "Jazz", "Folk", "Metal", "Indie",
    "R&B", "Soul", "Classical", "Ambient", "Punk", "Country", "Reggae", "Blues", "J-Pop",
)
LABELS = ("EMI", "Parlophone", "Columbia", "Sub Pop", "XL Recordings", "Warp", "4AD", "Island")
FIRST = (
    "Anna", "Ben", "Chloé", "Daniel", "Elena", "Felix", "Grace", "Hugo", "Iris", "Jonas", "Kira",
    "Leo", "Maya", "Noah", "Olivia", "Pablo", "Rosa", "Sam", "Tess", "Uma", "Victor", "Wren",
    "Xavier", "Yara", "Zoë", "José", "Björn", "Søren", "Łukasz", "Mélanie", "Renée", "Aurélien",
    "Inés", "Joaquín", "Saoirse", "Dmitri",
)
LAST = (
    "Adams", "Becker", "Carter", "Dubois", "Eriksson", "Fischer", "García", "Hansen", "Ito",
    "Jensen", "Kowalski", "Larsen", "Müller", "Nakamura", "O'Brien", "Petrov", "Rossi", "Schmidt",
    "Tanaka", "Vargas", "Walsh", "Yilmaz", "Zhang", "Núñez", "Ødegaard", "Brontë", "Lindqvist",
    "Moreau", "Novák", "Doyle", "Hughes", "Silva", "Kim", "Costa", "Weber",
)
ADJ = (
    "Black", "Blue", "Broken", "Burning", "Crimson", "Crystal", "Dead", "Electric", "Empty",
    "Endless", "Fading", "Frozen", "Golden", "Hollow", "Iron", "Last", "Lonely", "Lost",
    "Midnight", "Neon", "Paper", "Quiet", "Red", "Restless", "Silent", "Silver", "Velvet", "Wild",
    "Young", "Northern", "Glass", "Static", "Violet", "Wandering", "Secret",
)
NOUN = (
    "Arrows", "Birds", "Bones", "Cathedrals", "Comets", "Daughters", "Dreams", "Echoes", "Engines",
    "Foxes", "Ghosts", "Giants", "Hearts", "Horses", "Kings", "Lanterns", "Lights", "Lions",
    "Machines", "Mirrors", "Monks", "Oceans", "Owls", "Parade", "Pilots", "Radios", "Rivers",
    "Saints", "Shadows", "Sons", "Stars", "Strangers", "Tigers", "Wolves", "Waves",
)
SING = (
    "Heart", "Night", "River", "Fire", "Light", "Dream", "Road", "Summer", "Rain", "Sky", "Home",
    "Ghost", "Mirror", "Ocean", "City", "Girl", "Boy", "Moon", "Sun", "Storm", "Winter", "Love",
    "Wire", "Garden", "Kingdom", "Tide", "Machine", "Heaven", "Paradise", "Silence",
)
VERB = (
    "Hold", "Take", "Leave", "Call", "Save", "Wake", "Follow", "Carry", "Find", "Show", "Let",
    "Tell", "Kiss", "Run", "Break", "Bring", "Drive", "Forget", "Remember", "Love",
)
ING = ("Running", "Dancing", "Falling", "Waiting", "Dreaming", "Burning", "Drowning", "Flying")
VENUES = (
    "Wembley Stadium", "the Royal Albert Hall", "Budokan", "Red Rocks", "the Fillmore",
    "Madison Square Garden", "Glastonbury", "the Hollywood Bowl", "Montreux", "the BBC",
)
JA_NAMES = tuple(
    f + g
    for f, g in product(
        ("佐藤", "鈴木", "高橋", "田中", "渡辺", "伊藤", "山本", "中村", "小林", "加藤"),
        ("ひかり", "美咲", "健太", "さくら", "翔", "結衣", "蓮", "葵", "陽菜", "大翔"),
    )
)
JA_TITLES = (
    "夜明け", "桜", "青い空", "星の歌", "さよなら", "永遠", "夢の続き", "雨上がり", "東京",
    "月光", "花火", "風の中で", "ありがとう", "君の名前", "海へ",
)
RU_NAMES = tuple(
    f"{a} {n}"
    for a, n in product(
        ("Белые", "Чёрные", "Красные", "Синие", "Тихие", "Последние", "Ночные", "Северные"),
        ("Ночи", "Птицы", "Звёзды", "Волны", "Дороги", "Тени", "Огни", "Реки"),
    )
)
RU_TITLES = (
    "Город", "Зима", "Последний герой", "Весна", "Ночь", "Дорога домой", "Ветер", "Песня о любви",
    "Солнце", "Море", "Всё идёт по плану", "Перемен",
)
GR_NAMES = (
    "Νίκος Παπαδόπουλος", "Γιώργος Οικονόμου", "Δημήτρης Γεωργίου", "Κώστας Ιωάννου",
    "Ελένη Βασιλείου", "Μαρία Δημητρίου", "Άννα Νικολάου", "Σοφία Αλεξίου",
)
GR_TITLES = (
    "Θάλασσα", "Αγάπη", "Νύχτα", "Το τραγούδι της βροχής", "Καλοκαίρι", "Φεγγάρι", "Όνειρο",
    "Αστέρι", "Μια φορά κι έναν καιρό", "Σ' αγαπώ",
)
SCRIPT_TITLES = {"ja": JA_TITLES, "ru": RU_TITLES, "gr": GR_TITLES}


@dataclass(frozen=True)
class _Head:
    """A hand-written artist of the fixed head: one real album and what to derive from it."""

    name: str
    album: str
    year: int
    songs: tuple[str, ...]
    derive: tuple[str, ...] = ()
    feat: dict[int, str] = field(default_factory=dict)  # song index -> original_title
    script: str = "latin"


HEAD = (
    _Head("Queen", "A Night at the Opera", 1975,
          ("Death on Two Legs (Dedicated to...)", "Lazing on a Sunday Afternoon",
           "You're My Best Friend", "'39", "Love of My Life", "Bohemian Rhapsody"),
          (KIND_REMASTER,)),
    _Head("Beyoncé", "Dangerously in Love", 2003,
          ("Crazy in Love (feat. Jay-Z)", "Naughty Girl", "Baby Boy (feat. Sean Paul)",
           "Be with You", "Me, Myself and I"), (KIND_DELUXE, KIND_SINGLE)),
    _Head("Sigur Rós", "Takk...", 2005,
          ("Takk...", "Glósóli", "Hoppípolla", "Með blóðnasir", "Sé lest", "Sæglópur"),
          (KIND_LIVE,)),
    _Head("Daft Punk", "Random Access Memories", 2013,
          ("Give Life Back to Music", "The Game of Love", "Instant Crush", "Lose Yourself to Dance",
           "Get Lucky"),
          (KIND_BEST_OF,),
          {2: "Daft Punk feat. Julian Casablancas", 3: "Daft Punk feat. Pharrell Williams",
           4: "Daft Punk feat. Pharrell Williams & Nile Rodgers"}),
    _Head("Motörhead", "Ace of Spades", 1980,
          ("Ace of Spades", "Love Me Like a Reptile", "Shoot You in the Back", "Live to Win",
           "Fast and Loose"), (KIND_DELUXE,)),
    _Head("宇多田ヒカル", "First Love", 1999,
          ("Automatic -Album Edit-", "Movin' on without you", "In My Room", "First Love",
           "甘いワナ 〜Paint It, Black", "time will tell"), script="ja"),
    _Head("Кино", "Группа крови", 1988,
          ("Группа крови", "Закрой за мной дверь, я ухожу", "Война", "Спокойная ночь",
           "Мама, мы все сошли с ума"), script="ru"),
    _Head("Μάνος Χατζιδάκις", "Το Χαμόγελο της Τζοκόντας", 1965,
          ("Οδός Ονείρων", "Ο Καζανόβας", "Η Κυρία με τα Γάντια", "Το Χαμόγελο της Τζοκόντας"),
          script="gr"),
    _Head("The Beatles", "Abbey Road", 1969,
          ("Come Together", "Something", "Maxwell's Silver Hammer", "Oh! Darling",
           "Octopus's Garden", "Here Comes the Sun"), (KIND_REMASTER,)),
)
HEAD_COMPILATION_AFTER = 5  # the first Various Artists compilation follows this many head artists


# --- generator ---------------------------------------------------------------------------------


class _Gen:
    """Holds the RNG and the growing lists; one instance per `generate_library` call."""

    def __init__(self, n_tracks: int, seed: int, first_id: int, trash_fraction: float) -> None:
        self.rng = random.Random(seed)
        self.n = n_tracks
        self.ids = count(first_id)
        self.songs = count(1)
        self.trash_fraction = trash_fraction
        self.artists: list[Artist] = []
        self.albums: list[Album] = []
        self.tracks: list[Track] = []
        self.studio_pool: list[Track] = []
        self.artists_by_id: dict[int, Artist] = {}
        self.names = self._latin_names()
        self.script_names = {"ja": list(JA_NAMES), "ru": list(RU_NAMES), "gr": list(GR_NAMES)}
        for pool in self.script_names.values():
            self.rng.shuffle(pool)
        self.various = self._artist(VARIOUS_ARTISTS, mbid="89ad4ac3-39f7-470e-963a-56509c546377")

    # ids, guids, times --------------------------------------------------------------------------

    def _hex_guid(self, kind: str) -> str:
        return f"plex://{kind}/5d07{self.rng.getrandbits(80):020x}"

    def _mbid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"

    def _added_at(self) -> int:
        # a steady pace (independent of n_tracks, so smaller libraries stay prefixes)
        return ADDED_FROM + len(self.tracks) * ADDED_SECONDS_PER_TRACK + self.rng.randrange(86400)

    def _duration(self) -> int:
        seconds = min(max(self.rng.gauss(225.0, 65.0), 45.0), 1200.0)
        return int(seconds * 1000) + self.rng.randrange(1000)

    # names ----------------------------------------------------------------------------------------

    def _latin_names(self) -> Iterator[str]:
        patterns = (
            [f"The {a} {n}" for a, n in product(ADJ, NOUN)]
            + [f"{a} {n}" for a, n in product(ADJ, NOUN)]
            + [f"{f} {la}" for f, la in product(FIRST, LAST)]
            + [f"{f} & the {n}" for f, n in product(FIRST, NOUN)]
        )
        self.rng.shuffle(patterns)
        suffixes = ("", " II", " III", " IV", " V", " VI", " VII", " VIII")
        return (name + suffix for suffix in suffixes for name in patterns)

    def _next_artist_name(self) -> tuple[str, str]:
        roll = self.rng.random()
        script = "ja" if roll < 0.05 else "ru" if roll < 0.08 else "gr" if roll < 0.10 else "latin"
        pool = self.script_names.get(script)
        if pool:
            return pool.pop(), script
        return next(self.names), "latin"

    def _song_title(self, script: str) -> str:
        rng = self.rng
        if script in SCRIPT_TITLES:
            return rng.choice(SCRIPT_TITLES[script])
        pattern = rng.randrange(10)
        if pattern == 0:
            title = f"{rng.choice(ADJ)} {rng.choice(SING)}"
        elif pattern == 1:
            title = f"The {rng.choice(SING)}"
        elif pattern == 2:
            title = f"{rng.choice(VERB)} Me {rng.choice(('Home', 'Down', 'Back', 'Now', 'Close'))}"
        elif pattern == 3:
            title = f"{rng.choice(SING)} of {rng.choice(NOUN)}"
        elif pattern == 4:
            title = f"{rng.choice(ING)} in the {rng.choice(SING)}"
        elif pattern == 5:
            apostrophe = "’" if rng.random() < 0.3 else "'"
            title = f"Don{apostrophe}t {rng.choice(VERB)} {rng.choice(('Me', 'It', 'Us', 'Away'))}"
        elif pattern == 6:
            title = f"{rng.choice(SING)} & {rng.choice(SING)}"
        elif pattern == 7:
            title = f"{rng.choice(SING)}, Pt. {rng.choice(('2', 'II', '1'))}"
        else:
            title = f"{rng.choice(ADJ)} {rng.choice(NOUN)}"
        return title

    # rows -----------------------------------------------------------------------------------------

    def _artist(self, name: str, *, mbid: str | None = None) -> Artist:
        sort = name[4:] if name.startswith("The ") else name
        artist = Artist(
            id=next(self.ids), title=name, title_sort=sort, guid=self._hex_guid("artist"),
            mbid=mbid or (self._mbid() if self.rng.random() < 0.92 else None),
            added_at=self._added_at(), genres=tuple(self.rng.sample(GENRES, 2)),
        )
        self.artists.append(artist)
        self.artists_by_id[artist.id] = artist
        return artist

    def _album(self, artist: Artist, title: str, year: int, kind: str, *, local: bool) -> Album:
        album_id = next(self.ids)
        album = Album(
            id=album_id, artist_id=artist.id, title=title, year=year, kind=kind,
            guid=f"local://{album_id}" if local else self._hex_guid("album"),
            mbid=None if local or self.rng.random() < 0.1 else self._mbid(),
            added_at=self._added_at(), genres=artist.genres[: 1 + self.rng.randrange(2)],
            studio=self.rng.choice(LABELS),
        )
        self.albums.append(album)
        return album

    def _track(self, album: Album, title: str, index: int, disc: int, *, song_key: int,
               mbid: str | None, original_title: str | None = None,
               duration_ms: int | None = None) -> Track:
        track_id = next(self.ids)
        local = album.guid.startswith("local://")
        deleted = bool(self.trash_fraction) and self.rng.random() < self.trash_fraction
        track = Track(
            id=track_id, album_id=album.id, artist_id=album.artist_id, title=title, index=index,
            disc=disc, duration_ms=duration_ms or self._duration(),
            guid=f"local://{track_id}" if local else self._hex_guid("track"),
            mbid=None if local else mbid, original_title=original_title,
            added_at=album.added_at + index, song_key=song_key,
            deleted_at=album.added_at + 86400 * 30 if deleted else None,
        )
        self.tracks.append(track)
        return track

    def _full(self) -> bool:
        return len(self.tracks) >= self.n

    # albums ---------------------------------------------------------------------------------

    def studio(self, artist: Artist, title: str, year: int, songs: list[str],
               feat: dict[int, str], *, local: bool = False) -> list[Track]:
        """A studio album; its tracks become candidates for compilations."""
        album = self._album(artist, title, year, KIND_STUDIO, local=local)
        two_discs = len(songs) > 14
        made = []
        for i, song in enumerate(songs):
            if self._full():
                break
            disc, index = (2, i - len(songs) // 2 + 1) if two_discs and i >= len(songs) // 2 \
                else (1, i + 1)
            track = self._track(album, song, index, disc, song_key=next(self.songs),
                                mbid=self._mbid() if self.rng.random() < 0.88 else None,
                                original_title=feat.get(i))
            made.append(track)
        self.studio_pool.extend(t for t in made if not t.guid.startswith("local://"))
        return made

    def _copy(self, album: Album, src: Track, title: str, index: int, disc: int,
              original_title: str | None = None) -> Track:
        return self._track(album, title, index, disc, song_key=src.song_key, mbid=src.mbid,
                           original_title=original_title or src.original_title,
                           duration_ms=src.duration_ms + self.rng.randrange(-1500, 1500))

    def remaster(self, artist: Artist, base: Album, tracks: list[Track]) -> None:
        """"<Album> (2011 Remaster)" with " - Remastered 2011" track titles."""
        year = self.rng.choice((2009, 2011, 2015, 2018, 2019, 2021))
        album = self._album(artist, f"{base.title} ({year} Remaster)", year, KIND_REMASTER,
                            local=False)
        style = self.rng.randrange(10)
        suffix = (f" - Remastered {year}" if style < 7 else f" - {year} Remaster" if style < 9
                  else " (Remastered)")
        for t in tracks:
            if self._full():
                return
            self._copy(album, t, t.title + suffix, t.index, t.disc)

    def deluxe(self, artist: Artist, base: Album, tracks: list[Track]) -> None:
        """Deluxe edition: the whole album again on disc 1, bonus recordings on disc 2."""
        label = self.rng.choice(("Deluxe Edition", "Deluxe", "Expanded Edition", "Super Deluxe"))
        year = base.year + self.rng.randrange(1, 20)
        album = self._album(artist, f"{base.title} ({label})", year, KIND_DELUXE, local=False)
        for i, t in enumerate(tracks, start=1):
            if self._full():
                return
            self._copy(album, t, t.title, i, 1)
        bonus = self.rng.sample(tracks, min(len(tracks), 2 + self.rng.randrange(4)))
        for i, t in enumerate(bonus, start=1):
            if self._full():
                return
            extra = self.rng.choice(("Demo", "Acoustic", "Live", "Instrumental", "BBC Session"))
            self._track(album, f"{t.title} - {extra}", i, 2, song_key=next(self.songs),
                        mbid=self._mbid(), original_title=t.original_title)

    def live(self, artist: Artist, tracks: list[Track], year: int) -> None:
        """"Live at <venue>": other recordings of the artist's songs."""
        venue = self.rng.choice(VENUES)
        album = self._album(artist, f"Live at {venue}", year, KIND_LIVE, local=False)
        for i, t in enumerate(self.rng.sample(tracks, min(len(tracks), 12)), start=1):
            if self._full():
                return
            style = self.rng.randrange(4)
            title = (f"{t.title} - Live" if style < 2 else f"{t.title} (Live)" if style == 2
                     else t.title)
            self._track(album, title, i, 1, song_key=next(self.songs), mbid=self._mbid(),
                        duration_ms=t.duration_ms + self.rng.randrange(5000, 90000))

    def best_of(self, artist: Artist, tracks: list[Track], year: int) -> None:
        """The artist's own "Greatest Hits": same recordings, same titles."""
        album = self._album(artist, self.rng.choice(("Greatest Hits", "The Best Of", "Essentials")),
                            year, KIND_BEST_OF, local=False)
        for i, t in enumerate(self.rng.sample(tracks, min(len(tracks), 14)), start=1):
            if self._full():
                return
            self._copy(album, t, t.title, i, 1)

    def single(self, artist: Artist, src: Track) -> None:
        """"<Song> - Single" with the song and, sometimes, a radio edit."""
        album = self._album(artist, f"{src.title} - Single", self.albums[-1].year, KIND_SINGLE,
                            local=False)
        self._copy(album, src, src.title, 1, 1)
        if not self._full() and self.rng.random() < 0.5:
            self._track(album, f"{src.title} - Radio Edit", 2, 1, song_key=next(self.songs),
                        mbid=self._mbid(), original_title=src.original_title)

    def compilation(self, must_have: list[Track]) -> None:
        """A Various Artists compilation; the real artist goes into ``original_title``."""
        number = self.rng.randrange(1, 120)
        title = self.rng.choice((
            f"Now That's What I Call Music! {number}", f"Bravo Hits {number}",
            f"Café del Mar, Vol. {number % 25 + 1}", f"Indie Anthems {1990 + number % 35}",
            f"Greatest Hits of the {self.rng.choice(('70', '80', '90', '00'))}s",
            f"Pure {self.rng.choice(GENRES)}",
        ))
        album = self._album(self.various, title, 1990 + number % 35, KIND_COMPILATION, local=False)
        pool = self.studio_pool[-400:]
        picks = must_have + self.rng.sample(pool, min(len(pool), 10 + self.rng.randrange(10)))
        seen: set[int] = set()
        for t in picks:
            if self._full() or t.id in seen:
                continue
            seen.add(t.id)
            artist_name = t.original_title or self.artists_by_id[t.artist_id].title
            self._copy(album, t, t.title, len(seen), 1, original_title=artist_name)



def _head_artist(gen: _Gen, head: _Head) -> list[Track]:
    artist = gen._artist(head.name)
    tracks = gen.studio(artist, head.album, head.year, list(head.songs), dict(head.feat))
    base = gen.albums[-1] if tracks else None
    for kind in head.derive:
        if gen._full() or base is None:
            break
        if kind == KIND_REMASTER:
            gen.remaster(artist, base, tracks)
        elif kind == KIND_DELUXE:
            gen.deluxe(artist, base, tracks)
        elif kind == KIND_LIVE:
            gen.live(artist, tracks, head.year + 7)
        elif kind == KIND_BEST_OF:
            gen.best_of(artist, tracks, head.year + 3)
        elif kind == KIND_SINGLE:
            gen.single(artist, tracks[0])
    return tracks


def _synthetic_artist(gen: _Gen) -> None:
    rng = gen.rng
    name, script = gen._next_artist_name()
    artist = gen._artist(name)
    year = rng.randrange(1962, 2021)
    everything: list[Track] = []
    for _ in range(1 + min(int(rng.expovariate(1 / 2.2)), 9)):
        if gen._full():
            return
        length = rng.choice((8, 9, 10, 10, 11, 11, 12, 12, 13, 14, 16, 20, 24))
        songs = _album_songs(gen, script, length)
        feat = {}
        for i in range(length):
            if rng.random() < 0.06 and len(gen.artists) > 2:
                other = _other_artist(gen, artist)
                if rng.random() < 0.6:
                    songs[i] += f" (feat. {other})"
                else:
                    feat[i] = f"{name} {rng.choice(('feat.', '&', 'ft.', 'with'))} {other}"
        local = rng.random() < 0.02
        title = _album_songs(gen, script, 1)[0] if rng.random() < 0.7 else songs[0]
        tracks = gen.studio(artist, title, year, songs, feat, local=local)
        everything.extend(tracks)
        base = gen.albums[-1]
        if tracks and not local:
            _maybe_derive(gen, artist, base, tracks, script)
        year += rng.randrange(1, 4)
    if everything and not gen._full() and rng.random() < 0.15:
        gen.live(artist, everything, year)
    if len(everything) > 20 and not gen._full() and rng.random() < 0.12:
        gen.best_of(artist, everything, year + 1)


def _other_artist(gen: _Gen, artist: Artist) -> str:
    """A featured artist: anyone already generated but the artist itself or Various Artists."""
    while True:
        other = gen.rng.choice(gen.artists)
        if other is not artist and other is not gen.various:
            return other.title


def _maybe_derive(gen: _Gen, artist: Artist, base: Album, tracks: list[Track],
                  script: str) -> None:
    rng = gen.rng
    if rng.random() < 0.12 and not gen._full():
        gen.remaster(artist, base, tracks)
    if rng.random() < 0.10 and not gen._full():
        gen.deluxe(artist, base, tracks)
    if rng.random() < 0.08 and not gen._full():
        gen.single(artist, rng.choice(tracks))


def _album_songs(gen: _Gen, script: str, length: int) -> list[str]:
    titles: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(titles) < length:
        title = gen._song_title(script)
        attempts += 1
        if title in seen and attempts < length * 4:
            continue
        if title in seen:
            title = f"{title} ({len(titles) + 1})"
        seen.add(title)
        titles.append(title)
    return titles


def generate_library(n_tracks: int, *, seed: int = 0, first_id: int = 1,
                     trash_fraction: float = 0.0) -> Library:
    """Generate a library with exactly ``n_tracks`` tracks.

    ``first_id`` is the first metadata_items id used (ids then increase: each artist, its
    albums, each album's tracks, as a scan would create them). ``trash_fraction`` of the tracks
    get a ``deleted_at`` (Plex's trash). Deterministic in all arguments.
    """
    if n_tracks < 0:
        raise ValueError("n_tracks must be >= 0")
    gen = _Gen(n_tracks, seed, first_id, trash_fraction)
    head_tracks: list[Track] = []
    featured: list[Track] = []
    for i, head in enumerate(HEAD):
        if gen._full():
            break
        tracks = _head_artist(gen, head)
        head_tracks.extend(tracks[:1])
        featured.extend(t for t in tracks if t.original_title)
        if i + 1 == HEAD_COMPILATION_AFTER and not gen._full():
            gen.compilation(head_tracks + featured[-1:])
    artists_since_compilation = 0
    while not gen._full():
        _synthetic_artist(gen)
        artists_since_compilation += 1
        if artists_since_compilation >= 12 and not gen._full():
            gen.compilation([])
            artists_since_compilation = 0
    return _prune(gen, seed)


def _prune(gen: _Gen, seed: int) -> Library:
    """Drop albums and artists that ended up without tracks (generation stops mid-album)."""
    album_ids = {t.album_id for t in gen.tracks}
    albums = [a for a in gen.albums if a.id in album_ids]
    artist_ids = {a.artist_id for a in albums}
    artists = [a for a in gen.artists if a.id in artist_ids]
    return Library(artists=artists, albums=albums, tracks=gen.tracks, seed=seed)
