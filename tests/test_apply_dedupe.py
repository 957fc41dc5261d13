"""Native-play dedupe (apply/plan.py `dedupe`) against a plain reference model (issue 12).

The rule: a scrobble within (the track's duration + apply.dedupe_slack_minutes) of a play Plex
recorded natively for the same track and account is that play. Each native play absorbs at most
one scrobble; scrobbles in time order each take the earliest unclaimed native play in their
window; native plays claimed by earlier applies stay claimed; a track without a duration counts
as `DEFAULT_DURATION_S` long.

The model below says the same in the plainest way (a multiset of free plays, a linear scan),
and Hypothesis compares the two on small crowded timelines where windows overlap often.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from daemon.apply.plan import DEFAULT_DURATION_S, dedupe
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from tests.test_apply import T0, TRACKS, applier, history_rows, scrobble, setup

Candidate = tuple[int, int, int, int, float | None]  # scrobble_id, account, key, uts, duration
Track = tuple[int, int]  # account, rating_key


def model(candidates: list[Candidate], natives: dict[Track, list[int]],
          claimed: dict[Track, list[int]], slack: int
          ) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]]:
    free = {track: Counter(times) - Counter(claimed.get(track, ()))
            for track, times in natives.items()}
    write_plays, already = [], []
    for sid, account, key, uts, duration_ms in sorted(candidates,
                                                      key=lambda c: (c[1], c[2], c[3], c[0])):
        window = (duration_ms / 1000 if duration_ms else DEFAULT_DURATION_S) + slack
        pool = free.get((account, key), Counter())
        inside = [t for t in pool.elements() if uts - window <= t <= uts + window]
        if inside:
            pool[min(inside)] -= 1
            already.append((sid, account, key, min(inside)))
        else:
            write_plays.append((sid, account, key, uts))
    return write_plays, already


def frame(candidates: list[Candidate]) -> pd.DataFrame:
    rows = sorted(candidates, key=lambda c: (c[1], c[2], c[3], c[0]))
    return pd.DataFrame(rows, columns=["scrobble_id", "account_id", "rating_key", "uts",
                                       "duration_ms"]).astype({"duration_ms": "float64"})


TRACK_KEYS = st.tuples(st.sampled_from([1, 2]), st.sampled_from([10, 11, 12]))
TIMES = st.integers(0, 3000)  # crowded: windows (duration + slack) overlap all the time


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Candidate], dict[Track, list[int]],
                                        dict[Track, list[int]], int]:
    durations = {track: draw(st.one_of(st.none(), st.just(0), st.integers(1_000, 900_000)))
                 for track in [(a, k) for a in (1, 2) for k in (10, 11, 12)]}
    picks = draw(st.lists(st.tuples(TRACK_KEYS, TIMES), max_size=25))
    candidates = [(sid, a, k, uts, durations[(a, k)])
                  for sid, ((a, k), uts) in enumerate(picks, start=1)]
    natives: dict[Track, list[int]] = {}
    claimed: dict[Track, list[int]] = {}
    for track, times in draw(st.dictionaries(TRACK_KEYS, st.lists(TIMES, max_size=8))).items():
        natives[track] = sorted(times)
        taken = draw(st.lists(st.sampled_from(times), max_size=len(times))) if times else []
        gone = draw(st.lists(TIMES, max_size=2))  # claimed plays no longer listed
        claimed[track] = sorted(taken + gone)
    return candidates, natives, claimed, draw(st.integers(0, 600))


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_dedupe_equals_the_reference_model(
    scenario: tuple[list[Candidate], dict[Track, list[int]], dict[Track, list[int]], int]
) -> None:
    candidates, natives, claimed, slack = scenario
    got_write, got_already = dedupe(frame(candidates), natives, claimed, slack)
    want_write, want_already = model(candidates, natives, claimed, slack)
    assert sorted(got_already) == sorted(want_already)
    assert sorted(got_write) == sorted(want_write)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_each_free_native_play_absorbs_at_most_one_scrobble_within_its_window(
    scenario: tuple[list[Candidate], dict[Track, list[int]], dict[Track, list[int]], int]
) -> None:
    candidates, natives, claimed, slack = scenario
    got_write, got_already = dedupe(frame(candidates), natives, claimed, slack)
    assert sorted(s for s, *_ in got_write + got_already) == sorted(c[0] for c in candidates)
    by_id = {c[0]: c for c in candidates}
    used = Counter((a, k, t) for _, a, k, t in got_already)
    for (account, key, t), n in used.items():
        free = Counter(natives.get((account, key), ())) - Counter(claimed.get((account, key), ()))
        assert n <= free[t]  # never more than once, never a play claimed before
    for sid, _, _, t in got_already:
        _, _, _, uts, duration_ms = by_id[sid]
        window = (duration_ms / 1000 if duration_ms else DEFAULT_DURATION_S) + slack
        assert abs(t - uts) <= window


# ---- the same rules end to end, against a fixture Plex database ------------------------------

def _add_scrobbles(engine: Engine, plays: list[Scrobble]) -> None:
    from daemon.reconcile import jobs as reconcile_jobs

    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(plays), "test")
    reconcile_jobs.match(engine)


def test_a_native_play_claimed_by_an_earlier_apply_stays_claimed(
    tmp_path: Path, engine: Engine
) -> None:
    track, native = TRACKS[0], T0 + 50_000
    db = setup(tmp_path, engine, [scrobble(track, native + 20)], natives=[(track.id, 1, native)])
    run = applier(engine, db, tmp_path)
    assert run.run(force_window=True)["already_in_plex"] == 1
    _add_scrobbles(engine, [scrobble(track, native - 20)])  # arrives later, same native play
    counts = run.run(force_window=True)
    assert (counts["added"], counts["already_in_plex"]) == (1, 0)
    assert history_rows(db, track) == 2


def test_the_window_is_the_tracks_duration_plus_the_slack(tmp_path: Path,
                                                          engine: Engine) -> None:
    track, other, native = TRACKS[0], TRACKS[1], T0 + 50_000
    plays = [scrobble(track, native + track.duration_ms // 1000 + 40),  # inside (slack 60 s)
             scrobble(other, native - other.duration_ms // 1000 - 61)]  # just outside
    db = setup(tmp_path, engine, plays, natives=[(track.id, 1, native), (other.id, 1, native)])
    counts = applier(engine, db, tmp_path, slack_seconds=60).run(force_window=True)
    assert (counts["added"], counts["already_in_plex"]) == (1, 1)
    assert (history_rows(db, track), history_rows(db, other)) == (1, 2)
