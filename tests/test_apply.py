"""The apply job end to end against fixture Plex databases that carry Plex's ICU/FTS traps."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.apply.job import Applier, ApplySettings
from daemon.apply.window import in_window
from daemon.plex.library_db import DatabaseLibrary
from daemon.plex.writer import PlayToWrite, PlexDatabaseWriter
from daemon.reconcile import jobs as reconcile
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import ledger, matches
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from tests import library_plays
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import Track, generate_library
from tests.library_plays import unambiguous

LIBRARY = generate_library(300, seed=9)
T0 = 1_700_000_000


TRACKS = unambiguous(LIBRARY, 12)


def scrobble(track: Track, uts: int) -> Scrobble:
    return library_plays.scrobble(LIBRARY, track, uts)


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Both writable tables, minus the columns a write may legitimately touch."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        views = conn.execute("SELECT * FROM metadata_item_views ORDER BY id").fetchall()
        names = [r[1] for r in conn.execute("PRAGMA table_info(metadata_item_settings)")]
        keep = [n for n in names if n not in ("updated_at", "changed_at")]
        settings = conn.execute(f"SELECT {', '.join(keep)} FROM metadata_item_settings "
                                "ORDER BY id").fetchall()
    finally:
        conn.close()
    return {"views": views, "settings": settings}


def view_count(path: Path, track: Track, account: int = 1) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT coalesce(sum(view_count), 0) FROM metadata_item_settings s"
                           " JOIN metadata_items t ON t.guid = s.guid WHERE t.id = ? AND"
                           " s.account_id = ?", (track.id, account)).fetchone()
        return int(row[0])
    finally:
        conn.close()


def history_rows(path: Path, track: Track) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM metadata_item_views v JOIN metadata_items"
                                " t ON t.guid = v.guid WHERE t.id = ?", (track.id,))
                   .fetchone()[0])
    finally:
        conn.close()


def setup(tmp_path: Path, engine: Engine, plays: list[Scrobble], *,
          natives: list[tuple[int, int, int]] = (),  # type: ignore[assignment]
          legacy: bool = False, store_clock: Callable[[], float] = time.time) -> Path:
    db = tmp_path / "plex.db"
    build_plex_db(db, LIBRARY, native_plays=natives, legacy_timestamps=legacy)
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(plays), "test",
                                     clock=store_clock)
    reconcile.refresh_library(DatabaseLibrary(str(db)), engine)
    return db


def applier(engine: Engine, db: Path, tmp_path: Path, **overrides: Any) -> Applier:
    settings: dict[str, Any] = {
        "database": db, "mode": "offline", "window": (dt_time(4), dt_time(5)),
        "accounts": {"alice": 1}, "slack_seconds": 300, "backup_dir": tmp_path / "backups",
        "backups_keep": 3, "lock_path": tmp_path / "apply.lock",
    }
    settings.update(overrides)
    return Applier(engine, ApplySettings(**settings))


def test_counts_and_history_are_exact_after_apply(tmp_path: Path, engine: Engine) -> None:
    plays = [scrobble(t, T0 + i * 1000 + n) for i, t in enumerate(TRACKS) for n in range(i % 3 + 1)]
    db = setup(tmp_path, engine, plays)
    counts = applier(engine, db, tmp_path).run(force_window=True)
    assert counts["added"] == len(plays)
    assert counts["backup"]
    assert Path(counts["backup"]).exists()
    for i, track in enumerate(TRACKS):
        assert view_count(db, track) == i % 3 + 1
        assert history_rows(db, track) == i % 3 + 1
    with engine.connect() as conn:
        assert ledger.summary(conn)["applied_plays"] == len(plays)


def test_apply_twice_equals_apply_once(tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    run = applier(engine, db, tmp_path)
    run.run(force_window=True)
    after_once = dump(db)
    again = run.run(force_window=True)
    assert (again["added"], again["removed"]) == (0, 0)
    assert dump(db) == after_once


def test_native_plays_are_not_doubled(tmp_path: Path, engine: Engine) -> None:
    track = TRACKS[0]
    native_time = T0 + 50_000
    plays = [scrobble(track, native_time + 30), scrobble(track, native_time + 10_000)]
    db = setup(tmp_path, engine, plays, natives=[(track.id, 1, native_time)])
    counts = applier(engine, db, tmp_path).run(force_window=True)
    assert (counts["added"], counts["already_in_plex"]) == (1, 1)
    assert view_count(db, track) == 2  # Plex's native play + our one new play
    assert history_rows(db, track) == 2
    assert applier(engine, db, tmp_path).run(force_window=True)["already_in_plex"] == 0


def test_changing_a_match_moves_exactly_our_plays(tmp_path: Path, engine: Engine) -> None:
    first, second = TRACKS[0], TRACKS[1]
    db = setup(tmp_path, engine, [scrobble(first, T0), scrobble(first, T0 + 500)],
               natives=[(first.id, 1, T0 - 90_000)])
    run = applier(engine, db, tmp_path)
    run.run(force_window=True)
    assert view_count(db, first) == 3
    with write(engine) as conn:
        track_id = matches.find_track(conn, *scrobble(first, 0)[1:4])
        assert track_id is not None
        matches.decide(conn, track_id, matches.MANUAL, second.id)
    counts = run.run(force_window=True)
    assert (counts["added"], counts["removed"]) == (2, 2)
    assert view_count(db, first) == 1  # the native play stays
    assert history_rows(db, first) == 1
    assert view_count(db, second) == 2


def test_revert_all_restores_the_exact_prior_state(tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i * 7) for i, t in enumerate(TRACKS)],
               natives=[(TRACKS[0].id, 1, T0 - 10**6), (TRACKS[3].id, 1, T0 - 10**5)])
    before = dump(db)
    run = applier(engine, db, tmp_path)
    run.run(force_window=True)
    assert dump(db) != before
    counts = run.run(force_window=True, revert_all=True)
    assert counts["removed"] == len(TRACKS)
    assert dump(db) == before
    with engine.connect() as conn:
        assert ledger.summary(conn)["applied_plays"] == 0


def test_legacy_string_timestamp_database(tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)], legacy=True)
    applier(engine, db, tmp_path).run(force_window=True)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        kinds = {row[0] for row in conn.execute(
            "SELECT typeof(viewed_at) FROM metadata_item_views")}
    finally:
        conn.close()
    assert kinds == {"text"}
    assert view_count(db, TRACKS[0]) == 1


def test_dry_run_writes_nothing(tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)])
    before = dump(db)
    counts = applier(engine, db, tmp_path).run(dry_run=True)
    assert counts["to_add"] == len(TRACKS)
    assert dump(db) == before
    assert not (tmp_path / "backups").exists()


def test_outside_the_window_is_skipped_with_a_reason(tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    run = applier(engine, db, tmp_path)
    run._now = lambda: datetime(2026, 11, 21, 12, 0).astimezone()
    assert run.run() == {"skipped": "outside the window 04:00-05:00"}
    run._now = lambda: datetime(2026, 11, 21, 4, 30).astimezone()
    assert run.run()["added"] == 1


@pytest.mark.parametrize(("start", "end", "at", "inside"), [
    (4, 5, 4, True), (4, 5, 5, False), (23, 1, 0, True), (23, 1, 22, False), (23, 1, 23, True),
])
def test_windows_may_cross_midnight(start: int, end: int, at: int, inside: bool) -> None:
    moment = datetime(2026, 1, 1, at, 0).astimezone()
    assert in_window((dt_time(start), dt_time(end)), moment) is inside


@pytest.mark.reliability("fault", "crash between Plex's commit and the ledger's")
def test_a_crash_after_plex_committed_is_recovered_without_doubling(
    tmp_path: Path, engine: Engine
) -> None:
    plays = [scrobble(t, T0 + i) for i, t in enumerate(TRACKS)]
    db = setup(tmp_path, engine, plays)
    # what a crash leaves: the batch started, Plex committed, our ledger never heard back
    with write(engine) as conn:
        batch = ledger.start_batch(conn, "offline", 0)
        desired = ledger.desired_plays(conn, ["alice"])
    PlexDatabaseWriter(db).apply(
        [PlayToWrite(key=int(r.scrobble_id), rating_key=int(r.rating_key), viewed_at=int(r.uts))
         for r in desired.itertuples()], [], backup_dir=None)
    counts = applier(engine, db, tmp_path).run(force_window=True)
    assert counts["recovered"] == len(TRACKS)
    assert counts["added"] == 0
    for track in TRACKS:
        assert view_count(db, track) == 1
    with engine.connect() as conn:
        states = dict(conn.exec_driver_sql("SELECT id, state FROM apply_batches").all())
    assert states[batch] == "recovered"


@pytest.mark.reliability("fault", "locked or busy Plex database")
def test_a_locked_plex_database_gives_up_cleanly(tmp_path: Path, engine: Engine) -> None:
    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    before = dump(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        run = Applier(engine, ApplySettings(
            database=db, mode="offline", window=(dt_time(4), dt_time(5)),
            accounts={"alice": 1}, slack_seconds=300, backup_dir=tmp_path / "b",
            backups_keep=3, lock_path=tmp_path / "l"),
            writer=lambda account: PlexDatabaseWriter(db, account_id=account,
                                                      busy_timeout_ms=200))
        with pytest.raises(Exception, match="locked"):
            run.run(force_window=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert dump(db) == before
    with engine.connect() as conn:
        summary = ledger.summary(conn)
    assert summary["applied_plays"] == 0
    assert summary["last_apply"]["state"] == "failed"
    assert "locked" in summary["last_apply"]["note"]


@pytest.mark.parametrize(("window", "butler", "overlaps"), [
    ((dt_time(4), dt_time(5)), (2, 5), True),
    ((dt_time(1), dt_time(2)), (2, 5), False),
    ((dt_time(5), dt_time(6)), (2, 5), False),
    ((dt_time(23, 30), dt_time(0, 30)), (0, 3), True),
    ((dt_time(12), dt_time(13)), (23, 1), False),
    ((dt_time(4), dt_time(5)), None, False),
])
def test_window_overlapping_the_butler_is_warned(
    window: tuple[dt_time, dt_time], butler: tuple[int, int] | None, overlaps: bool
) -> None:
    from daemon.service.jobs import warn_butler_overlap

    assert warn_butler_overlap(window, butler) is overlaps


# ---- modes and Plex itself ------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _probe(url: str) -> Any:
    from daemon.plex.server import PlexServerProbe

    return PlexServerProbe(url, "plex-token", timeout=2)


def test_offline_mode_skips_while_plex_runs_without_a_stop_command(
    tmp_path: Path, engine: Engine
) -> None:
    from tests.fakes.plex_server import FakePlexServer

    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    before = dump(db)
    with FakePlexServer(db, token="plex-token") as plex:
        run = Applier(engine, ApplySettings(
            database=db, mode="offline", window=(dt_time(4), dt_time(5)),
            accounts={"alice": 1}, slack_seconds=300, backup_dir=tmp_path / "b",
            backups_keep=3, lock_path=tmp_path / "l"), probe=_probe(plex.url))
        counts = run.run(force_window=True)
    assert counts["skipped"] == "Plex is running and apply.stop_command is not set (offline mode)"
    assert dump(db) == before


def test_offline_mode_stops_plex_writes_and_starts_it_again(tmp_path: Path,
                                                           engine: Engine) -> None:
    from tests.fakes.plex_server import FakePlexServer

    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    plex = FakePlexServer(db, token="plex-token", port=_free_port())
    plex.start()
    commands: list[list[str]] = []

    def run_command(argv: list[str]) -> int:
        commands.append(argv)
        if argv[-1] == "stop":
            plex.stop()  # Plex goes down
        else:
            plex.start()  # and up again, on its port
        return 0

    run = Applier(engine, ApplySettings(
        database=db, mode="offline", window=(dt_time(4), dt_time(5)), accounts={"alice": 1},
        slack_seconds=300, backup_dir=tmp_path / "b", backups_keep=3, lock_path=tmp_path / "l",
        stop_command="plexctl stop", start_command="plexctl start"),
        probe=_probe(plex.url), run_command=run_command)
    try:
        counts = run.run(force_window=True)
    finally:
        plex.stop()
    assert counts["added"] == 1
    assert commands == [["plexctl", "stop"], ["plexctl", "start"]]
    assert view_count(db, TRACKS[0]) == 1
    assert counts["readback"]["status"] == "agrees"  # Plex, started again, shows the play


def test_offline_mode_never_stops_plex_while_someone_is_playing(
    tmp_path: Path, engine: Engine
) -> None:
    from tests.fakes.plex_server import FakePlexServer, FakeSession

    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0)])
    commands: list[list[str]] = []
    with FakePlexServer(db, token="plex-token",
                        sessions=[FakeSession(rating_key=TRACKS[1].id)]) as plex:
        run = Applier(engine, ApplySettings(
            database=db, mode="offline", window=(dt_time(4), dt_time(5)),
            accounts={"alice": 1}, slack_seconds=300, backup_dir=tmp_path / "b",
            backups_keep=3, lock_path=tmp_path / "l", stop_command="plexctl stop",
            session_poll_seconds=600),
            probe=_probe(plex.url), run_command=lambda argv: commands.append(argv) or 0,
            now=lambda: datetime(2026, 11, 21, 4, 55).astimezone())
        counts = run.run()
    assert counts["skipped"] == "someone was playing until the window closed (1 stream(s))"
    assert commands == []
    assert view_count(db, TRACKS[0]) == 0


def test_api_mode_marks_plays_through_plex(tmp_path: Path, engine: Engine) -> None:
    from tests.fakes.plex_server import FakePlexServer

    db = setup(tmp_path, engine, [scrobble(TRACKS[0], T0), scrobble(TRACKS[0], T0 + 999)])
    before = dump(db)
    with FakePlexServer(db, token="plex-token") as plex:
        run = Applier(engine, ApplySettings(
            database=db, mode="api", window=(dt_time(4), dt_time(5)), accounts={"alice": 1},
            slack_seconds=300, backup_dir=tmp_path / "b", backups_keep=3,
            lock_path=tmp_path / "l"), probe=_probe(plex.url))
        counts = run.run(force_window=True)
        assert counts["added"] == 2
        assert [c.rating_key for c in plex.scrobble_calls] == [TRACKS[0].id] * 2
        again = run.run(force_window=True)
        assert again["added"] == 0
        reverted = run.run(force_window=True, revert_all=True)
    assert reverted["unremovable"] == 2  # Plex's API cannot unmark one play
    assert dump(db) == before  # api mode never touches the database file


def test_plexapi_sees_the_new_play_counts(tmp_path: Path, engine: Engine) -> None:
    from plexapi.server import PlexServer

    from tests.fakes.plex_server import FakePlexServer

    plays = [scrobble(TRACKS[2], T0), scrobble(TRACKS[2], T0 + 600), scrobble(TRACKS[5], T0)]
    db = setup(tmp_path, engine, plays)
    applier(engine, db, tmp_path).run(force_window=True)
    with FakePlexServer(db, token="plex-token") as plex:
        server = PlexServer(plex.url, "plex-token")
        counts = {int(t.ratingKey): t.viewCount
                  for t in server.library.section("Music").searchTracks()}
    assert counts[TRACKS[2].id] == 2
    assert counts[TRACKS[5].id] == 1


def test_desired_plays_are_the_matched_dated_scrobbles_of_the_users(engine: Engine) -> None:
    with write(engine) as conn:
        conn.exec_driver_sql(
            "INSERT INTO library_tracks (rating_key, section_id, title, duration_ms,"
            " refreshed_at) VALUES (501, 1, 'a', 200000, 0), (502, 1, 'b', NULL, 0)")
        conn.exec_driver_sql(
            "INSERT INTO scrobbled_tracks (id, artist, title) VALUES (1, 'x', 'a'),"
            " (2, 'x', 'b'), (3, 'x', 'c'), (4, 'x', 'd'), (5, 'x', 'e')")
        conn.exec_driver_sql(  # 3: queued; 4: matched to a key not mirrored; 5: no decision
            "INSERT INTO matches (track_id, status, rating_key, decided_at) VALUES"
            " (1, 'auto', 501, 0), (2, 'manual', 502, 0), (3, 'queued', NULL, 0),"
            " (4, 'auto', 503, 0)")
        conn.exec_driver_sql(
            "INSERT INTO scrobble_tracks (scrobble_id, track_id, user, uts) VALUES"
            " (17, 2, 'bob', 300), (11, 1, 'alice', 100), (12, 3, 'alice', 110),"
            " (13, 1, 'carol', 120), (14, 4, 'bob', 130), (15, 1, 'alice', 0),"
            " (16, 5, 'alice', 140), (18, 1, 'alice', 310)")
        desired = ledger.desired_plays(conn, ["alice", "bob"])
        nobody = ledger.desired_plays(conn, [])
    rows = [(int(r.scrobble_id), r.user, int(r.uts), int(r.rating_key),
             None if r.duration_ms != r.duration_ms else r.duration_ms)
            for r in desired.itertuples()]
    assert rows == [(11, "alice", 100, 501, 200000), (14, "bob", 130, 503, None),
                    (17, "bob", 300, 502, None), (18, "alice", 310, 501, 200000)]
    assert list(nobody.columns) == list(desired.columns)
    assert nobody.empty
