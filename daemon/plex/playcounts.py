"""The set-based SQL of one apply: delete our history rows, insert new ones, recompute counts.

Runs on a connection already inside ``BEGIN IMMEDIATE`` (see `daemon.plex.writer`, whose module
docstring explains the view_count / last_viewed_at rule and the history row columns). Every
step is one statement over TEMP tables (``plexfm_*``), never a query per play or per track.

Fidelity (docs/plex-fidelity.md has the evidence):

* ``changed_at`` is Plex's database-wide change counter, not a time. When the database uses it
  (some ``changed_at``/``content_changed_at`` is above 0), every settings row this apply
  creates or changes takes the next values above the highest one found anywhere, one per row,
  as Plex advances it on each change; a database that never used it keeps DEFAULT 0.
* History rows copy ``originally_available_at`` from the track's row, else its album's, when
  that value is already in the history table's timestamp convention (else NULL); ``thumb_url``
  and ``device_id`` stay NULL: no device played a scrobble, and the thumb format is unknown.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from daemon.errors import PlexWriteError
from daemon.plex.change_counter import highest_change
from daemon.plex.plays import InsertedIds

if TYPE_CHECKING:
    from daemon.plex.plays import PlayColumns, PlayToRemove

Staged = Callable[[int, dict[int, str]], None]  # (first new history id, rating_key -> guid)

log = logging.getLogger(__name__)

TRACK_TYPE = 10
CHUNK = 100_000  # plays staged per executemany
CACHE_KIB = 65536  # page cache of the write connection (filled only as pages are read). With
# rows in time order a 1M-play insert needed 128 MiB (7.8 s, 8.9-9.8 s with 64: index pages
# spilled to the WAL and written again); in history order (by track) each track's index pages
# are touched once: 6.79-7.20 s with 64 MiB, 6.58-6.80 with 128, the revert's delete the same,
# and the apply's peak RSS 70 MB lower (docs/benchmarks.md, seventh session)
VIEW_COLUMNS = ("account_id", "guid", "metadata_type", "library_section_id", "grandparent_title",
                "parent_index", "parent_title", "index", "title", "thumb_url", "viewed_at",
                "grandparent_guid", "originally_available_at", "device_id")
# metadata_item_settings columns that hold a user's state; a row whose state is all empty is
# the same as no row. A column not listed here (a newer PMS) means: never delete rows.
SETTINGS_STATE = {"rating": "{c} IS NULL", "view_offset": "coalesce({c}, 0) = 0",
                  "view_count": "coalesce({c}, 0) = 0", "last_viewed_at": "{c} IS NULL",
                  "skip_count": "coalesce({c}, 0) = 0", "last_skipped_at": "{c} IS NULL",
                  "extra_data": "coalesce({c}, '') = ''", "last_rated_at": "{c} IS NULL"}
SETTINGS_BOOKKEEPING = frozenset({"id", "account_id", "guid", "created_at", "updated_at",
                                  "changed_at"})
LEGACY_GLOB = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]*"


class PlayWrite:
    """The set-based steps of one apply, on a connection inside BEGIN IMMEDIATE."""

    def __init__(self, conn: sqlite3.Connection, account_id: int,
                 to_db: Callable[[int], int | str], now: int) -> None:
        self.conn = conn
        self.account = account_id
        self.to_db = to_db
        self.now = to_db(now)
        self.text_times = isinstance(self.now, str)
        self.first_inserted: int | None = None  # id of the first history row `insert` wrote
        self._guids: dict[int, str] | None = None
        conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
        conn.execute("CREATE TEMP TABLE plexfm_rm(id INTEGER PRIMARY KEY, guid TEXT, viewed_at)")
        conn.execute("CREATE TEMP TABLE plexfm_add(seq INTEGER PRIMARY KEY, "
                     "rating_key INTEGER NOT NULL, viewed_at NOT NULL)")
        conn.execute("CREATE TEMP TABLE plexfm_track(rating_key INTEGER PRIMARY KEY, "
                     "guid TEXT NOT NULL, section INTEGER, title TEXT, idx INTEGER, album TEXT, "
                     "artist TEXT, artist_guid TEXT, parent_index INTEGER, released)")

    def remove(self, rows: Sequence[PlayToRemove]) -> list[int]:
        """Delete those of ``rows`` whose history row still carries exactly the fingerprint we
        wrote (id, account, guid, viewed_at, a track's metadata_type); returns the ids deleted.
        Any other row with such an id (a movie's, another account's, a play Plex recorded
        under a reused id after its database was rolled back) is never ours: never deleted."""
        conn, to_db = self.conn, self.to_db
        conn.execute("CREATE TEMP TABLE plexfm_rm_in(id INTEGER PRIMARY KEY, guid TEXT, "
                     "viewed_at)")
        conn.executemany("INSERT OR IGNORE INTO plexfm_rm_in VALUES (?, ?, ?)",  # as they are
                         rows if to_db is int else  # when times are written as integers
                         ((int(r.view_id), r.guid, to_db(r.viewed_at)) for r in rows))
        conn.execute("INSERT INTO plexfm_rm SELECT v.id, v.guid, v.viewed_at FROM plexfm_rm_in r "
                     "JOIN main.metadata_item_views v ON v.id = r.id WHERE v.account_id = ? "
                     "AND v.metadata_type = ? AND v.guid = r.guid AND v.viewed_at = r.viewed_at",
                     (self.account, TRACK_TYPE))
        conn.execute("CREATE INDEX temp.plexfm_rm_guid ON plexfm_rm(guid, viewed_at)")
        deleted = [row[0] for row in conn.execute("SELECT id FROM plexfm_rm ORDER BY id")]
        gone = conn.execute("DELETE FROM main.metadata_item_views "
                            "WHERE id IN (SELECT id FROM plexfm_rm)").rowcount
        if gone != len(deleted):
            raise PlexWriteError(f"deleted {gone} history rows, expected {len(deleted)}")
        requested = conn.execute("SELECT count(*) FROM plexfm_rm_in").fetchone()[0]
        if requested > len(deleted):
            log.info("%d history rows to remove were gone or no longer the ones plexfm wrote "
                     "for account %d: left alone", requested - len(deleted), self.account)
        return deleted

    def resolve(self, plays: PlayColumns) -> None:
        """Look up the plays' tracks (TEMP tables only); refuse keys that are no tracks."""
        import numpy as np

        conn = self.conn
        conn.execute("CREATE TEMP TABLE plexfm_keys(rating_key INTEGER PRIMARY KEY, plays INT, "
                     "last_epoch INT, last)")
        if not len(plays):  # (a revert: with no keys, SQLite's plan would scan every track)
            return
        # per track: its plays and its latest play (epoch, and as written), for the settings
        keys, at, counts = np.unique(plays.rating_keys, return_inverse=True,
                                     return_counts=True)
        last = np.full(len(keys), np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, at.reshape(-1), plays.viewed_at)
        epochs = last.tolist()
        conn.executemany("INSERT INTO plexfm_keys VALUES (?, ?, ?, ?)", zip(
            keys.tolist(), counts.tolist(), epochs, map(self.to_db, epochs), strict=True))
        released = "coalesce(t.originally_available_at, al.originally_available_at)"
        in_views_convention = (f"typeof({released}) = 'text' AND {released} GLOB :glob"
                               if self.text_times else f"typeof({released}) = 'integer'")
        conn.execute(
            "INSERT INTO plexfm_track SELECT t.id, t.guid, t.library_section_id, t.title, "
            f't."index", al.title, ar.title, ar.guid, NULL, CASE WHEN {in_views_convention} '
            f"THEN {released} END FROM plexfm_keys k "
            "JOIN main.metadata_items t ON t.id = k.rating_key "
            "LEFT JOIN main.metadata_items al ON al.id = t.parent_id "
            "LEFT JOIN main.metadata_items ar ON ar.id = al.parent_id "
            "WHERE t.metadata_type = :track AND coalesce(t.guid, '') != ''",
            {"track": TRACK_TYPE, "glob": LEGACY_GLOB})
        conn.execute("UPDATE plexfm_track SET parent_index = (SELECT v.parent_index "
                     "FROM main.metadata_item_views v WHERE v.guid = plexfm_track.guid "
                     "AND v.parent_index IS NOT NULL ORDER BY v.id DESC LIMIT 1)")
        unknown = [row[0] for row in conn.execute(
            "SELECT rating_key FROM plexfm_keys WHERE rating_key NOT IN "
            "(SELECT rating_key FROM plexfm_track) ORDER BY rating_key LIMIT 5")]
        if unknown:
            missing = conn.execute("SELECT sum(plays) FROM plexfm_keys WHERE rating_key NOT IN "
                                   "(SELECT rating_key FROM plexfm_track)").fetchone()[0]
            raise PlexWriteError(
                f"{missing} plays name rating keys that are not tracks in Plex's database "
                f"(e.g. {', '.join(map(str, unknown))}); nothing written")

    def guids(self) -> dict[int, str]:
        """rating_key -> guid of every resolved track (a removal's fingerprint needs it)."""
        if self._guids is None:
            self._guids = {int(k): str(g) for k, g in self.conn.execute(
                "SELECT rating_key, guid FROM plexfm_track")}
        return self._guids

    def insert(self, plays: PlayColumns, staged: Staged | None = None) -> InsertedIds:
        """Insert one history row per (resolved) play; returns key -> new view id. `staged` is
        told the first row's id (AUTOINCREMENT: above any id ever used) and the guids."""
        import numpy as np

        conn = self.conn
        # staged in history order (a fresh table numbers rows 1..n), so id = first + seq - 1
        order = plays.history_order()
        keys = plays.keys[order]
        to_db, rows = self.to_db, 0
        for first in range(0, len(order), CHUNK):  # chunks: no 1M Python ints at once
            at = order[first:first + CHUNK]
            times = plays.viewed_at[at].tolist()
            rows += conn.executemany("INSERT INTO plexfm_add (rating_key, viewed_at) VALUES (?, ?)",
                                     zip(plays.rating_keys[at].tolist(), times if to_db is int
                                         else map(to_db, times), strict=True)).rowcount
        if not len(order):
            return InsertedIds(keys, keys)
        # n rows with distinct seqs from 1 to n: exactly 1..n (no count(*) scan of the table)
        if rows != len(order) or conn.execute("SELECT min(seq), max(seq) FROM plexfm_add"
                                              ).fetchone() != (1, len(order)):
            raise PlexWriteError("staged plays were not numbered 1..n; nothing written")
        if staged is not None:  # (checked by _verify_inserted)
            staged(int(conn.execute(
                "SELECT max(coalesce((SELECT max(seq) FROM main.sqlite_sequence WHERE name = "
                "'metadata_item_views'), 0), (SELECT coalesce(max(id), 0) FROM "
                "main.metadata_item_views)) + 1").fetchone()[0]), self.guids())
        columns = ", ".join(f'"{c}"' for c in VIEW_COLUMNS)
        conn.execute(
            f"INSERT INTO main.metadata_item_views ({columns}) SELECT ?, t.guid, ?, t.section, "
            "t.artist, t.parent_index, t.album, t.idx, t.title, NULL, a.viewed_at, "
            "t.artist_guid, t.released, NULL FROM plexfm_add a "
            "JOIN plexfm_track t ON t.rating_key = a.rating_key ORDER BY a.seq",
            (self.account, TRACK_TYPE))
        first = self._verify_inserted(len(order))
        self.first_inserted = first
        return InsertedIds(keys, np.arange(first, first + len(order), dtype=np.int64))

    def _verify_inserted(self, count: int) -> int:
        """Check the new rows are ids first..first+count-1, row first+seq-1 with staged play
        seq's time, the account and a track's type (`count` matches fill the range); returns
        first. The new rows each probe their staged play by rowid, not the other way round
        (1M: 1.7 -> 0.4 s); the guid comes from the same SELECT row as the time."""
        conn = self.conn
        last = conn.execute("SELECT max(id) FROM main.metadata_item_views").fetchone()[0]
        first = int(last) - count + 1
        matching = conn.execute(
            "SELECT count(a.seq) FROM main.metadata_item_views v"
            " LEFT JOIN plexfm_add a ON a.seq = v.id - :first + 1 AND a.viewed_at = v.viewed_at"
            " AND v.account_id = :account AND v.metadata_type = :track WHERE v.id >= :first",
            {"first": first, "account": self.account, "track": TRACK_TYPE}).fetchone()[0]
        if matching != count:
            raise PlexWriteError("inserted history rows did not get consecutive ids; rolled back")
        return first

    def update_settings(self) -> int:
        """Recompute view_count/last_viewed_at of every touched guid; returns rows touched."""
        conn, account = self.conn, {"account": self.account, "now": self.now}
        conn.execute("CREATE TEMP TABLE plexfm_guid(guid TEXT PRIMARY KEY, added INT DEFAULT 0, "
                     "removed INT DEFAULT 0, sid INT, nrows INT DEFAULT 0, old_count INT, "
                     "old_last, new_count INT, new_last, ours, ours_epoch INT)")
        # ours: the guid's latest play inserted (bare k.last: the row of max(k.last_epoch))
        conn.execute("INSERT INTO plexfm_guid(guid, added, ours, ours_epoch) SELECT t.guid, "
                     "sum(k.plays), k.last, max(k.last_epoch) "
                     "FROM plexfm_track t JOIN plexfm_keys k ON k.rating_key = t.rating_key "
                     "GROUP BY t.guid")
        conn.execute("INSERT INTO plexfm_guid(guid, removed) SELECT guid, count(*) FROM plexfm_rm "
                     "WHERE guid IS NOT NULL GROUP BY guid "
                     "ON CONFLICT(guid) DO UPDATE SET removed = excluded.removed")
        # each guid looked up (`+account_id`: not every row of the account scanned, as
        # SQLite chose without statistics; 17,000 guids of 195,000 rows 0.055 -> 0.023 s)
        conn.execute(
            "UPDATE plexfm_guid SET sid = s.sid, nrows = s.n FROM (SELECT guid, min(id) AS sid, "
            "count(*) AS n FROM main.metadata_item_settings WHERE +account_id = :account "
            "AND guid IN (SELECT guid FROM plexfm_guid) GROUP BY guid) s "
            "WHERE s.guid = plexfm_guid.guid", account)
        conn.execute("UPDATE plexfm_guid SET old_count = s.view_count, old_last = s.last_viewed_at "
                     "FROM main.metadata_item_settings s WHERE s.id = plexfm_guid.sid")
        conn.execute(
            "UPDATE plexfm_guid SET new_count = max(0, coalesce(old_count, 0) + added - removed), "
            f"new_last = {self._latest_play()}", {**account, "first": self.first_inserted})
        conn.execute(
            "UPDATE plexfm_guid SET new_last = old_last WHERE old_last IS NOT NULL "
            "AND (new_last IS NULL OR old_last > new_last) AND NOT EXISTS (SELECT 1 FROM "
            "plexfm_rm r WHERE r.guid = plexfm_guid.guid AND r.viewed_at = plexfm_guid.old_last)")
        self._log_duplicates()
        counter = highest_change(conn)  # rows of plexfm_guid have rowids 1..n
        changed = "" if counter is None else ", changed_at = :counter + g.rowid"
        touched = self._delete_empty_settings()  # (not updated first: 20,000 rows 0.1 s)
        touched += conn.execute(
            "UPDATE main.metadata_item_settings SET view_count = g.new_count, "
            f"last_viewed_at = g.new_last, updated_at = :now{changed} FROM plexfm_guid g "
            "WHERE metadata_item_settings.id = g.sid", {**account, "counter": counter}).rowcount
        column, value = ("", "") if counter is None else (", changed_at", ", :counter + rowid")
        touched += conn.execute(
            "INSERT INTO main.metadata_item_settings (account_id, guid, view_count, "
            f"last_viewed_at, created_at, updated_at{column}) SELECT :account, guid, new_count, "
            f"new_last, :now, :now{value} FROM plexfm_guid WHERE sid IS NULL AND new_count > 0 "
            "ORDER BY guid", {**account, "counter": counter}).rowcount
        return touched

    def _latest_play(self) -> str:
        """SQL for the latest viewed_at of plexfm_guid.guid's history rows for the account.

        After an insert, the rows from ``:first`` on are this apply's: their latest is the
        guid's latest play inserted (`plexfm_guid.ours`, from the plays themselves, not one
        history row read per guid), and only the rows before are read for their account and
        time, instead of every history row of every guid."""
        older = ("(SELECT max(v.viewed_at) FROM main.metadata_item_views v WHERE v.guid = "
                 "plexfm_guid.guid AND v.account_id = :account{})")
        if self.first_inserted is None:
            return older.format("")
        ours = "plexfm_guid.ours"  # the rows from :first on are the plays inserted
        before = older.format(" AND v.id < :first")
        return f"max(coalesce({ours}, {before}), coalesce({before}, {ours}))"

    def _log_duplicates(self) -> None:
        dup = self.conn.execute("SELECT count(*), min(guid) FROM plexfm_guid "
                                "WHERE nrows > 1").fetchone()
        if dup[0]:
            log.warning("%d tracks have duplicate metadata_item_settings rows for account %d "
                        "(e.g. %s); updated the lowest id of each", dup[0], self.account, dup[1])

    def _delete_empty_settings(self) -> int:
        """Delete the settings rows our removals leave without any state (see module docstring):
        judged by the count and last play they would get, before the others are updated;
        returns the rows deleted."""
        conn = self.conn
        columns = {row[1] for row in conn.execute("PRAGMA main.table_info(metadata_item_settings)")}
        if not columns <= SETTINGS_BOOKKEEPING | SETTINGS_STATE.keys():
            return 0
        state = {c: SETTINGS_STATE[c].format(c=f's."{c}"') for c in columns & SETTINGS_STATE.keys()}
        state.update(view_count="coalesce(g.new_count, 0) = 0", last_viewed_at="g.new_last IS NULL")
        empty = " AND ".join(state[c] for c in sorted(state))
        markers = {row[1] for row in conn.execute(
            "PRAGMA main.table_info(metadata_item_setting_markers)")}
        if markers and "metadata_item_setting_id" not in markers:
            return 0
        if markers:
            empty += (" AND NOT EXISTS (SELECT 1 FROM main.metadata_item_setting_markers m "
                      "WHERE m.metadata_item_setting_id = s.id)")
        return conn.execute(
            f"DELETE FROM main.metadata_item_settings WHERE id IN (SELECT s.id FROM "
            f"main.metadata_item_settings s JOIN plexfm_guid g ON g.sid = s.id WHERE g.removed > 0"
            f" AND g.added = 0 AND g.nrows = 1 AND {empty})").rowcount
