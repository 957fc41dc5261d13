"""Build a Plex Media Server library database file for tests.

`build_plex_db(path, library)` creates ``com.plexapp.plugins.library.db`` from the real DDL in
``tests/fixtures/plex/plex-schema.sql`` and fills it with a generated `Library`:

* ``library_sections`` (one music section, ``section_type`` 8, agent ``tv.plex.agents.music``),
  ``section_locations``, ``directories`` (root, artist and album folders), ``accounts``,
  ``devices`` (one Plexamp), ``schema_migrations`` (Plex's real ladder up to the shape's era,
  tests/fixtures/plex/schema_migrations.txt);
* ``metadata_items``: artists (type 8), albums (type 9, ``parent_id`` -> artist), tracks
  (type 10, ``parent_id`` -> album, ``"index"`` = track number, ``original_title`` = track
  artist when it differs, ``duration`` ms, ``guid``, ``added_at``, ``deleted_at`` for trashed);
* ``media_items`` / ``media_parts`` (one file per track);
* ``tags`` / ``taggings``: genres (``tag_type`` 1, also denormalised into ``tags_genre``) and
  the external ids Plex serves as ``<Guid id="mbid://...">``: one ``tags`` row per distinct id
  with ``tag_type`` 314 and ``tag`` = ``"mbid://<uuid>"``, linked to every artist/album/track
  carrying it by ``taggings(metadata_item_id, tag_id)``. (This is how public tools read
  imdb/tmdb/tvdb ids from real Plex DBs: ``JOIN taggings ... JOIN tags ... tag_type = 314``.)
* native Plex plays: one ``metadata_item_views`` row per play and one
  ``metadata_item_settings`` row per (account, track guid) with ``view_count`` /
  ``last_viewed_at``, as PMS itself would leave them.

Fixture conventions where the reference is uncertain (see docs/plex-fidelity.md):

* disc number: Plex's column for it is unknown, so the fixture keeps it out of Plex's tables,
  in its own ``fixture_track_discs`` table, which the fake server serves as ``parentIndex``
  (``absolute_index`` stays NULL on tracks, as Plex's migration leaves it on non-collections).
* ``metadata_item_views.parent_index`` = disc number, ``thumb_url`` NULL, ``device_id`` 1.
* ``changed_at``: one database-wide change counter (values like the real 46005545 of
  ``library_sections``): metadata items, then the section, then settings rows in play order.
* no album/artist-level ``metadata_item_settings`` rows.

``shape`` picks the era (`tests.fakes.plex_shapes.SHAPES`: "2020", "2021", "2023",
"current"); ``legacy_timestamps=True`` without a shape means "2021". Integer shapes hold Unix
seconds; text shapes declare ``datetime`` columns holding local-time
``'YYYY-MM-DD HH:MM:SS'`` strings, as SQLite's ``datetime(x, 'unixepoch', 'localtime')`` writes.

With ``with_icu_traps=True`` (default) the Plex-only objects are injected after the data is in.
ICU shapes: the ``fts4_*_icu`` virtual tables (``tokenize=collating``), their 8 triggers on
``metadata_items`` and ``tags``, ``index_title_sort_icu ... COLLATE icu_root`` and the
``spellfix1`` tables. Stock ``sqlite3`` then fails exactly as on a real server: inserting into
``metadata_items`` raises "no such collation sequence: icu_root", inserting into ``tags`` or
updating a title raises "unknown tokenizer: collating"; ``metadata_item_settings`` and
``metadata_item_views`` stay writable. See `_inject_icu_traps` for how. The 2020 shape gets the
non-ICU triggers and ``index_title_sort_naturalsort ... COLLATE naturalsort`` instead.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from tests.fakes.plex_library_gen import Album, Artist, Library, Track
from tests.fakes.plex_shapes import (
    HASHED_PASSWORD_SQL,
    NATURALSORT_INDEX_SQL,
    NON_ICU_TRIGGERS,
    SHAPES,
    Shape,
    migrations,
)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "plex" / "plex-schema.sql"
PLEX_DB_RELATIVE_PATH = Path("Plug-in Support", "Databases", "com.plexapp.plugins.library.db")
OWNER_ACCOUNT_ID = 1
TAG_TYPE_GENRE = 1
TAG_TYPE_GUID = 314
MUSIC_SECTION_TYPE = 8
BUILT_AT = 1751328000  # 2025-07-01 UTC: "now" inside the fixture (created_at of sections etc.)
CHANGED_AT_BASE = 40_000_000  # first change counter value of the fixture's items
SECTION_CHANGED_AT, SECTION_CONTENT_CHANGED_AT = 46005545, 47050956  # autoscan's real row
DISCS_TABLE = "fixture_track_discs"  # the fixture's own (not Plex's): disc per track

ICU_TOKENIZE = "tokenize=collating 'root@colStrength=primary;colAlternate=shifted'"
# name -> (content table, columns); the CREATE text is Plex's, verbatim (reference §1.3).
FTS_ICU_TABLES = {
    "fts4_metadata_titles_icu": ("metadata_items", ("title", "title_sort", "original_title")),
    "fts4_tag_titles_icu": ("tags", ("tag",)),
}
FTS_SHADOWS = ("segments", "segdir", "docsize", "stat")
ICU_INDEX_SQL = "CREATE INDEX 'index_title_sort_icu' ON 'metadata_items' ('title_sort' COLLATE {})"
SPELLFIX_TABLES = ("spellfix_metadata_titles", "spellfix_tag_titles")

# The 2021 (PMS 1.23.5) DDL of metadata_item_views, verbatim (reference §1.3, source D).
LEGACY_VIEWS_DDL = (
    'CREATE TABLE IF NOT EXISTS "metadata_item_views" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT '
    'NULL, "account_id" integer, "guid" varchar(255), "metadata_type" integer, "library_section_id"'
    ' integer, "grandparent_title" varchar(255), "parent_index" integer, "parent_title" '
    'varchar(255), "index" integer, "title" varchar(255), "thumb_url" varchar(255), "viewed_at" '
    "datetime, 'grandparent_guid' varchar(255), 'originally_available_at' datetime, 'device_id' "
    "integer);"
)


class NativePlay(NamedTuple):
    """One play Plex recorded itself: (track ratingKey, account id, Unix seconds)."""

    rating_key: int
    account_id: int
    viewed_at: int


@dataclass(frozen=True)
class NativePlays:
    """Generator option for native plays: ``fraction`` of the tracks were played 1..max times."""

    fraction: float = 0.05
    max_per_track: int = 6
    accounts: tuple[int, ...] = (OWNER_ACCOUNT_ID,)
    since: int = 1577836800  # 2020-01-01 UTC
    until: int = BUILT_AT
    seed: int = 0


@dataclass
class PlexDb:
    """What `build_plex_db` wrote: the path, the section and the plays (for assertions)."""

    path: Path
    section_id: int
    section_title: str
    library: Library
    plays: list[NativePlay]
    accounts: list[tuple[int, str]]
    legacy_timestamps: bool
    with_icu_traps: bool
    shape: str = "current"
    counts: dict[str, int] = field(default_factory=dict)

    def view_counts(self, account_id: int = OWNER_ACCOUNT_ID) -> dict[int, int]:
        """Expected ``viewCount`` per track id for one account (tracks never played absent)."""
        result: dict[int, int] = {}
        for play in self.plays:
            if play.account_id == account_id:
                result[play.rating_key] = result.get(play.rating_key, 0) + 1
        return result


def plex_db_path_layout(root: str | Path) -> Path:
    """Where PMS keeps the library DB under its data dir (".../Plex Media Server")."""
    return Path(root) / PLEX_DB_RELATIVE_PATH


def generate_native_plays(library: Library, spec: NativePlays) -> list[NativePlay]:
    """Deterministic native plays for ``spec.fraction`` of the (non-trashed) tracks."""
    rng = random.Random(f"{library.seed}:{spec.seed}")
    plays: list[NativePlay] = []
    for track in library.tracks:
        if track.deleted_at is not None or rng.random() >= spec.fraction:
            continue
        start = max(spec.since, track.added_at)
        if start >= spec.until:
            continue
        for _ in range(1 + min(int(rng.expovariate(0.8)), spec.max_per_track - 1)):
            account = spec.accounts[0] if rng.random() < 0.8 else rng.choice(spec.accounts)
            plays.append(NativePlay(track.id, account, rng.randrange(start, spec.until)))
    plays.sort(key=lambda p: (p.viewed_at, p.rating_key))
    return plays


def build_plex_db(
    path: str | Path,
    library: Library,
    *,
    section_title: str = "Music",
    section_id: int = 1,
    legacy_timestamps: bool = False,
    with_icu_traps: bool = True,
    accounts: Sequence[tuple[int, str]] | tuple[int, str] = ((OWNER_ACCOUNT_ID, "owner"),),
    native_plays: Iterable[tuple[int, int, int]] | NativePlays = (),
    section_root: str = "/music",
    shape: str | None = None,
) -> PlexDb:
    """Create a fresh Plex library DB at ``path`` (replacing any file there) and return its summary.

    ``accounts`` is a list of ``(id, name)`` (a single pair is accepted too); ``native_plays`` is
    either explicit ``(rating_key, account_id, viewed_at)`` tuples or a `NativePlays` spec.
    ``shape``: the era (module doc); default "current", or "2021" with ``legacy_timestamps``.
    """
    era = SHAPES[shape or ("2021" if legacy_timestamps else "current")]
    legacy_timestamps = not era.integer_timestamps
    db_path = Path(path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    account_rows = _normalise_accounts(accounts)
    plays = (generate_native_plays(library, native_plays) if isinstance(native_plays, NativePlays)
             else [NativePlay(*p) for p in native_plays])
    _check_plays(library, plays, account_rows)
    result = PlexDb(db_path, section_id, section_title, library, plays, account_rows,
                    legacy_timestamps, with_icu_traps, era.name)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        tables, indexes = _split_schema(_schema_sql(era))
        conn.executescript(tables)
        if era.hashed_password:
            for statement in HASHED_PASSWORD_SQL:
                conn.execute(statement)
        conn.execute(f"CREATE TABLE {DISCS_TABLE} (metadata_item_id INTEGER PRIMARY KEY, "
                     "disc INTEGER)")
        conn.execute("BEGIN")
        _Writer(conn, result, section_root, era).write_all()
        for statement in indexes:  # the DDL's indexes, built after the data: much faster
            conn.execute(statement)
        conn.execute("COMMIT")
        if with_icu_traps and era.icu:
            _inject_icu_traps(conn, legacy_triggers=era.unconditional_icu_updates)
        elif with_icu_traps:
            _inject_naturalsort_traps(conn)
    finally:
        conn.close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # like PMS; persistent in the file
    finally:
        conn.close()
    return result


def _normalise_accounts(
    accounts: Sequence[tuple[int, str]] | tuple[int, str],
) -> list[tuple[int, str]]:
    if len(accounts) == 2 and isinstance(accounts[0], int):
        return [(int(accounts[0]), str(accounts[1]))]
    return [(int(a[0]), str(a[1])) for a in accounts]  # type: ignore[index]


def _check_plays(library: Library, plays: list[NativePlay],
                 accounts: list[tuple[int, str]]) -> None:
    known_accounts = {a for a, _ in accounts}
    for play in plays:
        if play.rating_key not in library.track_by_id:
            raise ValueError(f"native play for unknown track id {play.rating_key}")
        if play.account_id not in known_accounts:
            raise ValueError(f"native play for unknown account {play.account_id}")


def _schema_sql(shape: Shape) -> str:
    """The copied DDL, as the shape's era declared it (module doc)."""
    sql = SCHEMA_PATH.read_text(encoding="utf-8")
    if not shape.last_rated_at:
        sql = sql.replace(', "last_rated_at" dt_integer(8)', "")
    if not shape.view_type:
        sql = sql.replace(', "view_type" integer DEFAULT 0', "")
    if shape.integer_timestamps:
        return sql
    lines = [LEGACY_VIEWS_DDL if line.startswith('CREATE TABLE IF NOT EXISTS "metadata_item_views"')
             else line for line in sql.splitlines()]
    return "\n".join(lines).replace("dt_integer(8)", "datetime")


def _split_schema(sql: str) -> tuple[str, list[str]]:
    """(script of everything but the CREATE INDEX lines, those lines), in DDL order."""
    tables, indexes = [], []
    for line in sql.splitlines():
        is_index = line.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX"))
        (indexes if is_index else tables).append(line)
    return "\n".join(tables), indexes


def local_timestamp(epoch: int) -> str:
    """Legacy Plex timestamp text: local time, ``'YYYY-MM-DD HH:MM:SS'``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _pseudo_hex(text: str, length: int = 40) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:length]


def _safe(name: str) -> str:
    return name.replace("/", "_").replace(":", "_").strip(". ") or "_"


class _Writer:
    """Inserts every row of one fixture DB on an open connection inside one transaction."""

    def __init__(self, conn: sqlite3.Connection, db: PlexDb, section_root: str,
                 shape: Shape) -> None:
        self.conn = conn
        self.db = db
        self.shape = shape
        self.lib = db.library
        self.root = section_root.rstrip("/") or "/"
        self.t: Callable[[int | None], int | str | None] = (
            (lambda v: None if v is None else local_timestamp(v)) if db.legacy_timestamps
            else (lambda v: v)
        )
        self.tag_ids: dict[tuple[int, str], int] = {}
        self.album_dirs: dict[int, int] = {}

    def _insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
        cols = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        cur = self.conn.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)
        self.db.counts[table] = self.db.counts.get(table, 0) + cur.rowcount
        return cur.rowcount

    def write_all(self) -> None:
        """Write every table, in dependency order."""
        self._section()
        self._accounts_and_devices()
        self._directories()
        self._metadata()
        self._media()
        self._tags()
        self._plays()

    def _section(self) -> None:
        t, db = self.t, self.db
        section_uuid = str(uuid.UUID(int=random.Random(f"section:{db.section_id}").getrandbits(128),
                                     version=4))
        self._insert("library_sections", (
            "id", "name", "name_sort", "section_type", "language", "agent", "scanner",
            "created_at", "updated_at", "scanned_at", "uuid", "changed_at", "content_changed_at",
        ), [(db.section_id, db.section_title, db.section_title, MUSIC_SECTION_TYPE, "en",
             "tv.plex.agents.music", "Plex Music", t(1451606400), t(BUILT_AT), t(BUILT_AT),
             section_uuid, SECTION_CHANGED_AT, SECTION_CONTENT_CHANGED_AT)])
        self._insert("section_locations", (
            "id", "library_section_id", "root_path", "scanned_at", "created_at", "updated_at",
        ), [(db.section_id, db.section_id, self.root, t(BUILT_AT), t(1451606400), t(BUILT_AT))])
        self._insert("schema_migrations", ("version",), [(v,) for v in migrations(self.shape)])

    def _accounts_and_devices(self) -> None:
        t = self.t
        self._insert("accounts", ("id", "name", "created_at", "updated_at"),
                     [(i, name, t(1451606400), t(BUILT_AT)) for i, name in self.db.accounts])
        self._insert("devices", ("id", "identifier", "name", "created_at", "updated_at",
                                 "platform"),
                     [(1, "a1b2c3d4-plexamp-fixture", "Plexamp", t(1451606400), t(BUILT_AT),
                       "Linux")])

    def _directories(self) -> None:
        t, sid = self.t, self.db.section_id
        rows: list[tuple[object, ...]] = [(1, sid, None, "", t(1451606400), t(BUILT_AT))]
        artist_dirs: dict[int, int] = {}
        for artist in self.lib.artists:
            artist_dirs[artist.id] = len(rows) + 1
            rows.append((len(rows) + 1, sid, 1, _safe(artist.title), t(artist.added_at),
                         t(artist.added_at)))
        for album in self.lib.albums:
            self.album_dirs[album.id] = len(rows) + 1
            artist = self.lib.artist_by_id[album.artist_id]
            rows.append((len(rows) + 1, sid, artist_dirs[album.artist_id],
                         f"{_safe(artist.title)}/{_safe(album.title)}", t(album.added_at),
                         t(album.added_at)))
        self._insert("directories", ("id", "library_section_id", "parent_directory_id", "path",
                                     "created_at", "updated_at"), rows)

    def _metadata(self) -> None:
        columns = (
            "id", "library_section_id", "parent_id", "metadata_type", "guid", "media_item_count",
            "title", "title_sort", "original_title", "studio", "index", "absolute_index",
            "duration", "tags_genre", "originally_available_at", "year", "added_at", "created_at",
            "updated_at", "deleted_at", "changed_at",
        )
        self._insert("metadata_items", columns,
                     ((*row, CHANGED_AT_BASE + n) for n, row in enumerate(self._metadata_rows())))
        self._insert(DISCS_TABLE, ("metadata_item_id", "disc"),
                     [(tr.id, tr.disc) for tr in self.lib.tracks])

    def _metadata_rows(self) -> Iterator[tuple[object, ...]]:
        t, sid = self.t, self.db.section_id
        for ar in self.lib.artists:
            yield (ar.id, sid, None, 8, ar.guid, None, ar.title, ar.title_sort, None, None, None,
                   None, None, "|".join(ar.genres), None, None, t(ar.added_at), t(ar.added_at),
                   t(ar.added_at + 3600), None)
        for al in self.lib.albums:
            released = int(time.mktime((al.year, 1, 1, 12, 0, 0, 0, 0, 0)))
            sort = al.title[4:] if al.title.startswith("The ") else al.title
            yield (al.id, sid, al.artist_id, 9, al.guid, None, al.title, sort, None, al.studio,
                   1, None, None, "|".join(al.genres), t(released), al.year, t(al.added_at),
                   t(al.added_at), t(al.added_at + 3600), None)
        for tr in self.lib.tracks:
            yield (tr.id, sid, tr.album_id, 10, tr.guid, 1, tr.title, tr.title, tr.original_title,
                   None, tr.index, None, tr.duration_ms, None, None, None, t(tr.added_at),
                   t(tr.added_at), t(tr.added_at + 3600), t(tr.deleted_at))

    def _media(self) -> None:
        t, sid = self.t, self.db.section_id
        items, parts = [], []
        for n, tr in enumerate(self.lib.tracks, start=1):
            album = self.lib.album_by_id[tr.album_id]
            artist = self.lib.artist_by_id[tr.artist_id]
            lossless = n % 3 != 0
            bitrate = 900 + n % 500 if lossless else 320
            size = tr.duration_ms * bitrate // 8
            items.append((n, sid, sid, tr.id, bitrate, size, tr.duration_ms,
                          "flac" if lossless else "mp3", "flac" if lossless else "mp3", 2,
                          t(tr.added_at), t(tr.added_at), t(tr.deleted_at)))
            ext = "flac" if lossless else "mp3"
            disc = f"{tr.disc}-" if tr.disc > 1 else ""
            file = (f"{self.root}/{_safe(artist.title)}/{_safe(album.title)}/"
                    f"{disc}{tr.index:02d} - {_safe(tr.title)}.{ext}")
            parts.append((n, n, self.album_dirs[album.id], _pseudo_hex(file), file, size,
                          tr.duration_ms, t(tr.added_at), t(tr.added_at), t(tr.deleted_at)))
        self._insert("media_items", (
            "id", "library_section_id", "section_location_id", "metadata_item_id", "bitrate",
            "size", "duration", "container", "audio_codec", "audio_channels", "created_at",
            "updated_at", "deleted_at"), items)
        self._insert("media_parts", (
            "id", "media_item_id", "directory_id", "hash", "file", "size", "duration",
            "created_at", "updated_at", "deleted_at"), parts)

    def _tag_id(self, tag_type: int, tag: str) -> int:
        key = (tag_type, tag)
        tag_id = self.tag_ids.get(key)
        if tag_id is None:
            tag_id = self.tag_ids[key] = len(self.tag_ids) + 1
        return tag_id

    def _tags(self) -> None:
        t = self.t
        taggings: list[tuple[object, ...]] = []
        items: list[Artist | Album | Track] = [*self.lib.artists, *self.lib.albums]
        for item in items:
            for i, genre in enumerate(item.genres):  # type: ignore[union-attr]
                taggings.append((item.id, self._tag_id(TAG_TYPE_GENRE, genre), i, t(item.added_at)))
        for item in [*items, *self.lib.tracks]:
            if item.mbid:
                taggings.append((item.id, self._tag_id(TAG_TYPE_GUID, f"mbid://{item.mbid}"), 0,
                                 t(item.added_at)))
        self._insert("tags", ("id", "tag", "tag_type", "created_at", "updated_at"),
                     [(i, tag, tag_type, t(BUILT_AT), t(BUILT_AT))
                      for (tag_type, tag), i in self.tag_ids.items()])
        self._insert("taggings", ("metadata_item_id", "tag_id", "index", "created_at"), taggings)

    def _plays(self) -> None:
        t, db, lib = self.t, self.db, self.lib
        view_cols = ["account_id", "guid", "metadata_type", "library_section_id",
                     "grandparent_title", "parent_index", "parent_title", "index", "title",
                     "thumb_url", "viewed_at", "grandparent_guid", "originally_available_at",
                     "device_id"]
        views, settings = [], {}
        for play in db.plays:
            tr = lib.track_by_id[play.rating_key]
            album, artist = lib.album_by_id[tr.album_id], lib.artist_by_id[tr.artist_id]
            released = int(time.mktime((album.year, 1, 1, 12, 0, 0, 0, 0, 0)))
            views.append((play.account_id, tr.guid, 10, db.section_id, artist.title, tr.disc,
                          album.title, tr.index, tr.title, None, t(play.viewed_at), artist.guid,
                          t(released), 1))
            key = (play.account_id, tr.guid)
            count, first, last = settings.get(key, (0, play.viewed_at, play.viewed_at))
            settings[key] = (count + 1, min(first, play.viewed_at), max(last, play.viewed_at))
        self._insert("metadata_item_views", view_cols, views)
        changes = sorted(settings.items(), key=lambda item: (item[1][2], item[0]))
        self._insert("metadata_item_settings", (
            "account_id", "guid", "view_count", "last_viewed_at", "created_at", "updated_at",
            "changed_at",
        ), [(acc, guid, n, t(last), t(first), t(last), SECTION_CONTENT_CHANGED_AT + 1 + i)
            for i, ((acc, guid), (n, first, last)) in enumerate(changes)])


# --- Plex-only objects ---------------------------------------------------------------------------


def fts_icu_create_sql(name: str) -> str:
    """Plex's CREATE VIRTUAL TABLE text for one ``fts4_*_icu`` table (reference §1.3)."""
    content, columns = FTS_ICU_TABLES[name]
    return (f'CREATE VIRTUAL TABLE {name} USING fts4(content="{content}", '
            f"{', '.join(columns)}, {ICU_TOKENIZE})")


def icu_trigger_sql(legacy: bool) -> list[str]:
    """The 8 ``*_icu`` triggers: PMS 1.43 bodies, or the unconditional 2021 UPDATE triggers."""
    statements = []
    for name, (table, columns) in FTS_ICU_TABLES.items():
        base = name.removesuffix("_icu")
        cols = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        update_of = "UPDATE" if legacy else f"UPDATE OF {cols}"
        insert = f"INSERT INTO {name}(docid, {cols}) VALUES(new.rowid, {new});"
        delete = f"DELETE FROM {name} WHERE docid=old.rowid;"
        statements += [
            f"CREATE TRIGGER {base}_after_insert_icu AFTER INSERT ON {table} BEGIN {insert} END",
            f"CREATE TRIGGER {base}_after_update_icu AFTER {update_of} ON {table} "
            f"BEGIN {insert} END",
            f"CREATE TRIGGER {base}_before_delete_icu BEFORE DELETE ON {table} BEGIN {delete} END",
            f"CREATE TRIGGER {base}_before_update_icu BEFORE {update_of} ON {table} "
            f"BEGIN {delete} END",
        ]
    return statements


def _inject_icu_traps(conn: sqlite3.Connection, *, legacy_triggers: bool) -> None:
    """Add the objects stock SQLite cannot create, the way Plex itself does (sqlite_master).

    1. Each ``fts4_*_icu`` index is built with a stock tokenizer in a scratch FTS4 table over
       the same content and copied into the DDL's (empty) shadow tables, so the index is
       populated like a real one; then Plex's CREATE VIRTUAL TABLE text (``tokenize=collating``)
       is written into ``sqlite_master`` with ``PRAGMA writable_schema``.
    2. ``index_title_sort_icu`` is built as a real b-tree with NOCASE and its ``sql`` rewritten
       to ``COLLATE icu_root`` (nobody without Plex's ICU can use or check it anyway).
    3. The 8 triggers are plain CREATE TRIGGERs (SQLite resolves trigger bodies lazily).
    4. ``spellfix1`` tables: the ``_vocab`` tables plus the virtual table rows.
    Afterwards the connection's schema is stale: the caller must close it.
    """
    for name, (content, columns) in FTS_ICU_TABLES.items():
        scratch = "fixture_fts_scratch"
        conn.execute(f'CREATE VIRTUAL TABLE {scratch} USING fts4(content="{content}", '
                     f"{', '.join(columns)}, tokenize=unicode61)")
        conn.execute(f"INSERT INTO {scratch}({scratch}) VALUES('rebuild')")
        for shadow in FTS_SHADOWS:
            conn.execute(f'INSERT INTO "{name}_{shadow}" SELECT * FROM "{scratch}_{shadow}"')
        conn.execute(f"DROP TABLE {scratch}")
    conn.execute(ICU_INDEX_SQL.format("NOCASE"))
    for statement in icu_trigger_sql(legacy_triggers):
        conn.execute(statement)
    for name in SPELLFIX_TABLES:
        conn.execute(f'CREATE TABLE "{name}_vocab"(id INTEGER PRIMARY KEY, rank INT, '
                     "langid INT, word TEXT, k1 TEXT, k2 TEXT)")
        conn.execute(f'CREATE INDEX "{name}_vocab_index_langid_k2" ON "{name}_vocab"(langid,k2)')
    schema_version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("BEGIN")
    rows = [(name, fts_icu_create_sql(name)) for name in FTS_ICU_TABLES]
    rows += [(name, f"CREATE VIRTUAL TABLE {name} USING spellfix1") for name in SPELLFIX_TABLES]
    conn.executemany("INSERT INTO sqlite_master(type, name, tbl_name, rootpage, sql) "
                     "VALUES('table', ?1, ?1, 0, ?2)", rows)
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'index_title_sort_icu'",
                 (ICU_INDEX_SQL.format("icu_root"),))
    conn.execute(f"PRAGMA schema_version={schema_version + 1}")
    conn.execute("COMMIT")
    conn.execute("PRAGMA writable_schema=OFF")


def _inject_naturalsort_traps(conn: sqlite3.Connection) -> None:
    """The 2020 shape's Plex-only objects: the non-ICU search tables filled and kept by Plex's
    8 triggers (stock SQLite can run them), ``index_title_sort_naturalsort`` (built with NOCASE,
    its ``sql`` rewritten to Plex's ``COLLATE naturalsort``, which stock SQLite lacks: inserting
    into ``metadata_items`` then fails with "no such collation sequence: naturalsort") and the
    ``spellfix1`` tables. The caller must close the connection afterwards."""
    for name in ("fts4_metadata_titles", "fts4_tag_titles"):
        conn.execute(f"INSERT INTO {name}({name}) VALUES('rebuild')")
    for statement in NON_ICU_TRIGGERS:
        conn.execute(statement)
    conn.execute(NATURALSORT_INDEX_SQL.format("NOCASE"))
    for name in SPELLFIX_TABLES:
        conn.execute(f'CREATE TABLE "{name}_vocab"(id INTEGER PRIMARY KEY, rank INT, '
                     "langid INT, word TEXT, k1 TEXT, k2 TEXT)")
    schema_version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO sqlite_master(type, name, tbl_name, rootpage, sql) "
                     "VALUES('table', ?1, ?1, 0, ?2)",
                     [(name, f"CREATE VIRTUAL TABLE {name} USING spellfix1")
                      for name in SPELLFIX_TABLES])
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'index_title_sort_naturalsort'",
                 (NATURALSORT_INDEX_SQL.format("naturalsort"),))
    conn.execute(f"PRAGMA schema_version={schema_version + 1}")
    conn.execute("COMMIT")
    conn.execute("PRAGMA writable_schema=OFF")
