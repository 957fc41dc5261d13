"""Saving the matcher's decisions (`store.matches.save_decisions`, staged as one JSON text and
written by two SQL statements): every prior state against every kind of new decision, checked
against the rules written out row by row as the saving code once was."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from sqlalchemy import Connection, Engine

from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import matches, tracks
from daemon.store import scrobbles as scrobble_queries

# (status, rating_key) a track had before, None when it had no decision
PRIOR = [None, ("auto", 11), ("auto", 12), ("queued", None), ("manual", 13),
         ("not_in_library", None)]
NEW = [("auto", 11, "exact", None, (11, 14), ()),
       ("auto", 12, "exact-album", None, (), ()),
       ("queued", None, None, "close title", (15,), ((16, 90), (17, 41)))]


def _tracks(conn: Connection, n: int) -> list[int]:
    scrobble_queries.insert_rows(conn, "alice", with_ordinals([
        Scrobble(1_600_000_000 + i, f"Artist {i}", "Title", "") for i in range(n)]), "test")
    tracks.fold_new_scrobbles(conn)
    return [int(i) for i, in conn.exec_driver_sql("SELECT id FROM scrobbled_tracks ORDER BY id")]


def _expected(prior: tuple[str, int | None] | None, new: tuple[str, int | None]) -> str:
    """What happens to one decision: "kept", "changed" (saved, with a history row), "saved"."""
    old_status, old_key = prior or (None, None)
    if old_status == matches.MANUAL or (old_status == matches.NOT_IN_LIBRARY
                                        and new[0] != matches.AUTO):
        return "kept"
    return "saved" if (old_status, old_key) == new else "changed"


@pytest.mark.parametrize("per_text", [matches.STAGE_ROWS, 5, 1])
def test_every_prior_state_against_every_decision(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, per_text: int
) -> None:
    monkeypatch.setattr(matches, "STAGE_ROWS", per_text)  # one staged text, or several
    cases = list(itertools.product(PRIOR, NEW))
    with engine.begin() as conn:
        ids = _tracks(conn, len(cases))
        for track_id, (prior, _new) in zip(ids, cases, strict=True):
            if prior is not None:
                conn.exec_driver_sql(
                    "INSERT INTO matches (track_id, status, rating_key, decided_at, note)"
                    " VALUES (?, ?, ?, 1, 'a note')", (track_id, *prior))
        columns = ("status, rating_key, rule, reason, alternatives, suggestions, decided_at,"
                   " note")
        before = {t: row for t, *row in conn.exec_driver_sql(
            f"SELECT track_id, {columns} FROM matches")}
        counts = matches.save_decisions(conn, [
            matches.Decision(track_id, *new)
            for track_id, (_prior, new) in zip(ids, cases, strict=True)], "rules")
        stored = {t: row for t, *row in conn.exec_driver_sql(
            f"SELECT track_id, {columns} FROM matches")}
        history = conn.exec_driver_sql(
            "SELECT track_id, origin, old_status, old_rating_key, new_status, new_rating_key"
            " FROM match_history ORDER BY id").all()
    outcome = [_expected(prior, new[:2]) for prior, new in cases]
    assert counts == {"saved": outcome.count("saved") + outcome.count("changed"),
                      "changed": outcome.count("changed"),
                      "kept_user_decisions": outcome.count("kept")}
    assert outcome.count("kept") == 4  # every branch taken
    assert outcome.count("changed") == 11
    expected_history = []
    for track_id, (prior, new), what in zip(ids, cases, outcome, strict=True):
        row = stored[track_id]
        if what == "kept":  # untouched, note and all
            assert row == before[track_id]
            continue
        status, key, rule, reason, alternatives, suggestions = new
        assert row[:5] == [status, key, rule, reason, json.dumps(list(alternatives))]
        assert row[5] == json.dumps([list(s) for s in suggestions])
        assert row[6] > 1  # decided now
        assert row[7] is None  # the note gone
        if what == "changed":
            expected_history.append((track_id, "rules", *(prior or (None, None)), status, key))
    assert history == expected_history


def test_decisions_with_numpy_integers_and_none_are_saved(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = _tracks(conn, 2)
        counts = matches.save_decisions(conn, [
            matches.Decision(np.int64(ids[0]), "auto", np.int64(7), "exact",  # type: ignore[arg-type]
                             None, (np.int64(8),)),
            matches.Decision(ids[1], "queued", None, None, "no artist in library")], "auto")
        stored = conn.exec_driver_sql(
            "SELECT track_id, status, rating_key, rule, reason, alternatives FROM matches"
            " ORDER BY track_id").all()
    assert counts == {"saved": 2, "changed": 2, "kept_user_decisions": 0}
    assert stored == [(ids[0], "auto", 7, "exact", None, "[8]"),
                      (ids[1], "queued", None, None, "no artist in library", "[]")]


def test_nothing_to_save_writes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        assert matches.save_decisions(conn, [], "auto") == {
            "saved": 0, "changed": 0, "kept_user_decisions": 0}
        assert conn.exec_driver_sql("SELECT count(*) FROM match_history").scalar() == 0


def test_text_is_stored_as_given(engine: Engine) -> None:
    """Quotes, backslashes, non-ASCII and JSON-looking text pass through the staging intact."""
    reason = 'a "quoted" \\ reason — ünïcode [1, 2] 🎵'
    with engine.begin() as conn:
        (track_id,) = _tracks(conn, 1)
        matches.save_decisions(conn, [matches.Decision(track_id, "queued", None, "rule'x",
                                                       reason)], "auto")
        assert conn.exec_driver_sql(
            "SELECT rule, reason FROM matches").one() == ("rule'x", reason)
