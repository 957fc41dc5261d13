"""Library refresh and matching jobs against a real fixture Plex DB (with Plex's ICU traps)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.matching import RULES_VERSION
from daemon.plex.library_db import DatabaseLibrary
from daemon.reconcile import jobs as reconcile
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import counters, matches
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import open_store
from tests.fakes.plex_db import build_plex_db
from tests.fakes.plex_library_gen import Library, generate_library
from tests.library_plays import scrobble as scrobble_of
from tests.library_plays import unambiguous as plain_tracks

FULL = generate_library(400, seed=4)
SMALL = generate_library(300, seed=4)  # the first 300 tracks of FULL, identically


def plex_db(tmp_path: Path, library: Library, name: str) -> DatabaseLibrary:
    path = tmp_path / f"{name}.db"
    build_plex_db(path, library)
    return DatabaseLibrary(str(path))


def store(engine: Engine, items: list[Scrobble]) -> None:
    with engine.begin() as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(items), "test")


def decision(engine: Engine, s: Scrobble) -> tuple[str, int | None, str | None]:
    with engine.connect() as conn:
        track_id = matches.find_track(conn, s.artist, s.title, s.album)
        assert track_id is not None
        row = conn.exec_driver_sql(
            "SELECT status, rating_key, reason FROM matches WHERE track_id = ?", (track_id,)
        ).one()
    return row[0], row[1], row[2]


def test_refresh_mirrors_the_library_and_matches_exactly(tmp_path: Path, engine: Engine) -> None:
    chosen = plain_tracks(SMALL, 15)
    played = [scrobble_of(SMALL, t, 1_600_000_000 + i) for i, t in enumerate(chosen)]
    unknown = Scrobble(1_600_000_100, "Nobody We Know", "Mystery Song", "Nowhere")
    store(engine, [*played, unknown, played[0]])
    counts = reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine)
    live = [t for t in SMALL.tracks if t.deleted_at is None]
    assert counts["library_tracks"] == counts["added"] == len(live)
    assert counts["match"]["matched"] == len(chosen) + 1
    for track, s in zip(chosen, played, strict=True):
        assert decision(engine, s)[:2] == ("auto", track.id)
    assert decision(engine, unknown) == ("queued", None, "no artist in library")


def test_unchanged_library_matches_nothing_again(tmp_path: Path, engine: Engine) -> None:
    source = plex_db(tmp_path, SMALL, "small")
    store(engine, [scrobble_of(SMALL, plain_tracks(SMALL, 1)[0], 1_600_000_000)])
    reconcile.refresh_library(source, engine)
    again = reconcile.refresh_library(source, engine)
    assert (again["added"], again["changed"], again["removed"]) == (0, 0, 0)
    assert "match" not in again


def test_new_scrobbles_are_matched_by_the_next_match_run(tmp_path: Path, engine: Engine) -> None:
    reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine)
    track = plain_tracks(SMALL, 2)[1]
    s = scrobble_of(SMALL, track, 1_600_000_000)
    store(engine, [s, s._replace(uts=1_600_000_500)])
    counts = reconcile.match(engine)
    assert counts == {**counts, "folded_scrobbles": 2, "matched": 1, "auto": 1}
    assert decision(engine, s)[:2] == ("auto", track.id)
    with engine.connect() as conn:
        plays = conn.exec_driver_sql("SELECT plays FROM scrobbled_tracks").scalar()
    assert plays == 2
    assert reconcile.match(engine)["matched"] == 0


def test_user_decisions_survive_a_full_rematch(tmp_path: Path, engine: Engine) -> None:
    first, second = plain_tracks(SMALL, 2)
    s = scrobble_of(SMALL, first, 1_600_000_000)
    odd = Scrobble(1_600_000_001, "Obscure", "Bootleg", "")
    store(engine, [s, odd])
    reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine)
    with engine.begin() as conn:
        matches.decide(conn, matches.find_track(conn, s.artist, s.title, s.album) or 0,
                       matches.MANUAL, second.id)
        matches.decide(conn, matches.find_track(conn, odd.artist, odd.title, odd.album) or 0,
                       matches.NOT_IN_LIBRARY, None)
    counts = reconcile.match(engine, full=True)
    # manual decisions are not even re-examined; "not in library" is re-checked and kept
    assert counts["matched"] == 1
    assert counts["kept_user_decisions"] == 1
    assert decision(engine, s)[:2] == ("manual", second.id)
    assert decision(engine, odd)[0] == "not_in_library"


def test_not_in_library_is_rechecked_when_the_library_grows(
    tmp_path: Path, engine: Engine
) -> None:
    newcomer = next(t for t in plain_tracks(FULL, 400) if t.id not in {x.id for x in SMALL.tracks})
    s = scrobble_of(FULL, newcomer, 1_600_000_000)
    store(engine, [s])
    reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine)
    with engine.begin() as conn:
        matches.decide(conn, matches.find_track(conn, s.artist, s.title, s.album) or 0,
                       matches.NOT_IN_LIBRARY, None)
    counts = reconcile.refresh_library(plex_db(tmp_path, FULL, "full"), engine)
    assert counts["added"] == len([t for t in FULL.tracks if t.deleted_at is None]) - len(
        [t for t in SMALL.tracks if t.deleted_at is None])
    assert decision(engine, s)[:2] == ("auto", newcomer.id)
    with engine.connect() as conn:
        history = conn.exec_driver_sql(
            "SELECT old_status, new_status FROM match_history ORDER BY id").all()
    assert history[-1] == ("not_in_library", "auto")


def test_a_track_leaving_the_library_requeues_its_matches(tmp_path: Path, engine: Engine) -> None:
    newcomer = next(t for t in plain_tracks(FULL, 400) if t.id not in {x.id for x in SMALL.tracks})
    s = scrobble_of(FULL, newcomer, 1_600_000_000)
    manual = Scrobble(1_600_000_002, "Someone", "Renamed Song", "")
    store(engine, [s, manual])
    reconcile.refresh_library(plex_db(tmp_path, FULL, "full"), engine)
    with engine.begin() as conn:
        matches.decide(conn, matches.find_track(conn, *manual[1:4]) or 0, matches.MANUAL,
                       newcomer.id)
    assert decision(engine, s)[:2] == ("auto", newcomer.id)
    counts = reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine)
    assert counts["removed"] >= 1
    assert decision(engine, s)[0] == "queued"
    assert decision(engine, manual) == ("queued", None, reconcile.LEFT_LIBRARY)


def test_undo_forgets_a_decision_and_the_next_run_decides_again(
    tmp_path: Path, engine: Engine
) -> None:
    track = plain_tracks(SMALL, 1)[0]
    s = scrobble_of(SMALL, track, 1_600_000_000)
    store(engine, [s])
    reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine)
    with engine.begin() as conn:
        track_id = matches.find_track(conn, s.artist, s.title, s.album) or 0
        matches.decide(conn, track_id, matches.NOT_IN_LIBRARY, None)
        assert matches.undo(conn, track_id) == ("not_in_library", None)
    reconcile.match(engine)
    assert decision(engine, s)[:2] == ("auto", track.id)


def test_queued_tracks_get_ranked_suggestions(tmp_path: Path, engine: Engine) -> None:
    track = plain_tracks(SMALL, 1)[0]
    typo = scrobble_of(SMALL, track, 1_600_000_000)
    typo = typo._replace(title=typo.title + "x")
    store(engine, [typo])
    reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine)
    with engine.connect() as conn:
        listing = list(matches.listing(conn))
    assert listing[0]["status"] == "queued"
    assert listing[0]["suggestions"][0]["rating_key"] == track.id
    assert all(0 <= s["score"] <= 100 for s in listing[0]["suggestions"])
    assert len(listing[0]["suggestions"]) <= 5


@pytest.mark.parametrize("artist", ["Various Artists", "VA"])
def test_compilations_are_flagged(engine: Engine, artist: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO library_tracks (rating_key, section_id, title, album_artist, album,"
            " album_rating_key, refreshed_at) VALUES (1, 1, 'T', ?, 'Hits', 10, 0),"
            " (2, 1, 'U', 'Band', 'Album', 20, 0)", (artist,))
        frame = reconcile.library_frame(conn)
    assert frame.set_index("rating_key")["is_compilation"].to_dict() == {1: True, 2: False}


def _decisions(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT t.artist, t.title, t.album, t.plays, m.status, m.rating_key, m.rule,"
            " m.reason, m.alternatives, m.suggestions FROM scrobbled_tracks t"
            " JOIN matches m ON m.track_id = t.id ORDER BY t.artist, t.title, t.album")]


def test_a_large_fold_reads_the_library_beside_it_and_decides_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above OVERLAP_MIN_SCROBBLES unfolded scrobbles the library is read and prepared in a
    thread while the fold runs (and in both cases the matching runs while the fold maps each
    scrobble to its track): the decisions are those of the plain order, every scrobble mapped."""
    chosen = plain_tracks(SMALL, 12)
    played = [scrobble_of(SMALL, t, 1_600_000_000 + i) for i, t in enumerate(chosen)]
    unknown = Scrobble(1_600_000_100, "Nobody We Know", "Mystery Song", "Nowhere")
    typo = played[1]._replace(uts=1_600_000_200, title=played[1].title + "zq")
    results = []
    for name, threshold in (("plain", 10**9), ("beside", 1)):
        engine = open_store(f"sqlite:///{tmp_path / name}-store.db")
        reconcile.refresh_library(plex_db(tmp_path, SMALL, name), engine)
        store(engine, [*played, unknown, typo, played[0]._replace(uts=1_600_000_300)])
        monkeypatch.setattr(reconcile, "OVERLAP_MIN_SCROBBLES", threshold)
        timings: dict[str, float] = {}
        counts = reconcile.match(engine, timings=timings)
        assert any("library read beside" in phase for phase in timings) == (name == "beside")
        results.append((counts, _decisions(engine)))
        with engine.connect() as conn:  # the fold's map, written while the matching ran
            mapped = conn.exec_driver_sql(
                "SELECT count(*) FROM scrobble_tracks st JOIN scrobbles s ON s.id = st.scrobble_id"
                " JOIN scrobbled_tracks t ON t.id = st.track_id WHERE t.artist = s.artist"
                " AND t.title = s.title AND t.album = s.album AND st.uts = s.uts").scalar()
        assert mapped == len(played) + 3
        engine.dispose()
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]
    assert len(results[0][1]) == len(chosen) + 2


@pytest.mark.parametrize("overlap", [False, True])
def test_an_in_memory_store_is_matched_on_its_own_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overlap: bool,
) -> None:
    """An in-memory store is one database per connection, and its pool gives each thread its
    own: the matching's threads would read an empty database. It is matched in the job's
    thread, with the same decisions."""
    if overlap:
        monkeypatch.setattr(reconcile, "OVERLAP_MIN_SCROBBLES", 1)
    engine = open_store("sqlite://")
    try:
        chosen = plain_tracks(SMALL, 5)
        played = [scrobble_of(SMALL, t, 1_600_000_000 + i) for i, t in enumerate(chosen)]
        store(engine, played)
        counts = reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine)
        assert counts["match"]["matched"] == len(chosen)
        for track, s in zip(chosen, played, strict=True):
            assert decision(engine, s)[:2] == ("auto", track.id)
    finally:
        engine.dispose()


def test_a_failed_suggestion_pass_keeps_the_automatic_matches_for_the_next_run(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The automatic matches are saved in their own transaction while the queue's suggestions
    are computed: a failure there loses only the queued tracks' decisions, which the next run
    makes (the matching rules are not recorded as applied until everything is saved)."""
    chosen = plain_tracks(SMALL, 3)
    played = [scrobble_of(SMALL, t, 1_600_000_000 + i) for i, t in enumerate(chosen)]
    unknown = Scrobble(1_600_000_100, "Nobody We Know", "Mystery Song", "Nowhere")
    store(engine, [*played, unknown])
    reconcile.refresh_library(plex_db(tmp_path, SMALL, "small"), engine,
                              rematch=lambda diff: {})

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the suggestions broke")

    monkeypatch.setattr(reconcile, "suggest", broken)
    with pytest.raises(RuntimeError, match="the suggestions broke"):
        reconcile.match(engine)
    for track, s in zip(chosen, played, strict=True):
        assert decision(engine, s)[:2] == ("auto", track.id)
    with engine.connect() as conn:
        assert matches.find_track(conn, unknown.artist, unknown.title, unknown.album)
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM matches WHERE status = 'queued'").scalar() == 0
        assert counters.get(conn, reconcile.RULES_COUNTER) != RULES_VERSION
    monkeypatch.undo()
    counts = reconcile.match(engine)
    # the rules were never recorded: everything not decided by the user is matched again
    assert (counts["matched"], counts["auto"], counts["queued"]) == (4, 3, 1)
    assert (counts["saved"], counts["changed"]) == (4, 1)  # the auto rows unchanged
    assert decision(engine, unknown) == ("queued", None, "no artist in library")
    with engine.connect() as conn:
        assert counters.get(conn, reconcile.RULES_COUNTER) == RULES_VERSION
