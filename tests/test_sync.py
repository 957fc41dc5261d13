"""WindowSync against an in-memory page source: completeness, splitting, integrity, ordinals."""

from __future__ import annotations

import math
import random
import re
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from daemon.errors import SyncIntegrityError
from daemon.lastfm.completeness import Window
from daemon.lastfm.pages import RecentTracksPage
from daemon.lastfm.windows import WindowSync
from daemon.logs import local_time
from daemon.scrobble import MAX_AHEAD_SECONDS, Scrobble, storable, storable_span, with_ordinals
from daemon.store import merge, syncstate
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from tests.scrobble_truth import truth as expected


class MemorySource:
    """Serves pages of a newest-first history like user.getRecentTracks does."""

    def __init__(self, history: list[Scrobble]) -> None:
        self.history = sorted(history, key=lambda s: -s.uts)
        self.calls: list[tuple[int, int, int, int]] = []
        self.before_answer: Callable[[int, int, int], int] | None = None
        self.unreadable: set[Scrobble] = set()  # served, but the parser skips them
        self._lock = threading.Lock()

    def __call__(self, *, page: int, limit: int, from_uts: int, to_uts: int) -> RecentTracksPage:
        with self._lock:
            self.calls.append((page, limit, from_uts, to_uts))
            items = [s for s in self.history if from_uts <= s.uts < to_uts]
            total = len(items)
            if self.before_answer is not None:
                total += self.before_answer(page, from_uts, to_uts)
        chunk = items[(page - 1) * limit : page * limit]
        kept = [s for s in chunk if s not in self.unreadable]
        return RecentTracksPage("alice", page, limit, total, math.ceil(total / limit), kept,
                                len(chunk) - len(kept), 0)


def make_history(n: int, *, seed: int = 1, start: int = 1_100_000_000,
                 end: int = 1_700_000_000) -> list[Scrobble]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        uts = rng.randrange(start, end)
        out.append(Scrobble(uts, f"Artist {i % 97}", f"Song {i % 1013}", f"Album {i % 31}"))
    # genuine repeats: the same track three times in one second, as a device sync does
    burst = Scrobble(1_400_000_000, "Burst", "Same Second", "Sync")
    out.extend([burst, burst, burst])
    return out


def stored(engine: Engine) -> list[tuple[int, str, str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT uts, artist, title, album, ordinal FROM scrobbles ORDER BY uts, artist, title,"
            " album, ordinal"
        ))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def run_sync(source: MemorySource, engine: Engine, windows: list[Window], *, limit: int = 50,
             window_pages: int = 4, checkpoint: bool = True) -> WindowSync:
    sync = WindowSync(source, engine, "alice", limit=limit, window_pages=window_pages,
                      max_in_flight=4, checkpoint=checkpoint)
    sync.run(windows)
    return sync


def test_whole_history_is_stored_exactly_once(engine: Engine) -> None:
    history = make_history(3000)
    source = MemorySource(history)
    sync = run_sync(source, engine, [Window(0, 1_800_000_000)])
    assert stored(engine) == expected(history)
    assert sync.counts.added == len(history)
    # the splits store page 1's complete part instead of throwing it away
    minimum_pages = math.ceil(len(history) / 50)
    assert sync.counts.pages <= minimum_pages * 1.3


def test_checkpoints_cover_the_range_without_gaps(engine: Engine) -> None:
    history = make_history(1200)
    run_sync(MemorySource(history), engine, [Window(0, 1_800_000_000)])
    with engine.connect() as conn:
        done = syncstate.done_windows(conn, "alice")
    assert syncstate.gaps(done, 0, 1_800_000_000) == []


def test_fetching_again_stores_nothing_new(engine: Engine) -> None:
    history = make_history(800)
    source = MemorySource(history)
    run_sync(source, engine, [Window(0, 1_800_000_000)])
    again = run_sync(source, engine, [Window(0, 1_800_000_000)], window_pages=2)
    assert again.counts.added == 0
    assert stored(engine) == expected(history)


def test_same_second_repeats_larger_than_a_page(engine: Engine) -> None:
    burst = [Scrobble(1_500_000_000, "A", "B", "C")] * 130
    history = burst + make_history(100)
    run_sync(MemorySource(history), engine, [Window(0, 1_800_000_000)], limit=50,
             window_pages=1)
    assert stored(engine) == expected(history)


@pytest.mark.reliability("fault", "last.fm answers drifting during a backfill")
def test_total_drift_fetches_the_window_again(engine: Engine) -> None:
    history = make_history(500)
    source = MemorySource(history)
    drifted = {"left": 1}

    def drift(page: int, _start: int, _end: int) -> int:
        if page == 3 and drifted["left"]:
            drifted["left"] -= 1
            return 2
        return 0

    source.before_answer = drift
    sync = run_sync(source, engine, [Window(0, 1_800_000_000)], window_pages=20)
    assert sync.counts.refetched_windows == 1
    assert stored(engine) == expected(history)


@pytest.mark.reliability("fault", "last.fm answers drifting during a backfill")
def test_persistent_drift_gives_up_with_a_clear_error(engine: Engine) -> None:
    source = MemorySource(make_history(300))
    source.before_answer = lambda _page, _a, _b: 1  # every answer's total is off by one
    with pytest.raises(SyncIntegrityError, match="did not add up"):
        run_sync(source, engine, [Window(0, 1_800_000_000)], window_pages=20)
    assert len(source.calls) < 60  # splitting stays within the retry budget


def test_windows_are_logged_and_reported_in_local_time(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """As every other log line says an instant: ISO local time with its offset, never raw
    Unix seconds."""
    start, end = 1_000_000_000, 1_800_000_000
    source = MemorySource(make_history(300))
    source.before_answer = lambda _page, _a, _b: 1  # every answer's total is off by one
    with caplog.at_level("DEBUG", logger="daemon.lastfm"), \
            pytest.raises(SyncIntegrityError) as caught:
        run_sync(source, engine, [Window(start, end)], window_pages=20)
    again = [r.getMessage() for r in caplog.records if "again" in r.getMessage()]
    assert again[0].startswith(f"fetching window {local_time(start)} to {local_time(end)} "
                               "again: ")
    assert str(caught.value).startswith("window ")
    for said in [*(r.getMessage() for r in caplog.records), str(caught.value)]:
        assert not re.search(r"\b1[0-9]{9}\b", said), said


@pytest.mark.reliability("fault", "last.fm answers drifting during a backfill")
def test_drift_in_one_part_of_a_window_lets_the_rest_complete(engine: Engine) -> None:
    history = make_history(600)
    source = MemorySource(history)
    busy = {"left": 2}

    def arrivals_in_the_newest_part(page: int, start: int, end: int) -> int:
        if end > 1_650_000_000 and page == 2 and busy["left"]:
            busy["left"] -= 1  # scrobbles kept arriving here for a while
            return 1
        return 0

    source.before_answer = arrivals_in_the_newest_part
    sync = run_sync(source, engine, [Window(0, 1_800_000_000)], window_pages=20)
    assert sync.counts.refetched_windows == 2
    assert stored(engine) == expected(history)


def test_uncheckpointed_sync_leaves_no_windows(engine: Engine) -> None:
    run_sync(MemorySource(make_history(200)), engine, [Window(0, 1_800_000_000)],
             checkpoint=False)
    with engine.connect() as conn:
        assert syncstate.done_windows(conn, "alice") == []


def test_empty_range_is_one_request(engine: Engine) -> None:
    source = MemorySource([])
    sync = run_sync(source, engine, [Window(0, 1_800_000_000)])
    assert len(source.calls) == 1
    assert sync.counts.windows == 1


def test_skipped_items_count_toward_the_total_so_nothing_is_fetched_again(
    engine: Engine
) -> None:
    history = make_history(1000)
    source = MemorySource(history)
    source.unreadable = set(history[::97])  # bad times or names, on many pages of the window
    sync = run_sync(source, engine, [Window(0, 1_800_000_000)], window_pages=20)
    assert sync.counts.refetched_windows == 0
    assert sync.counts.skipped == len([s for s in history if s in source.unreadable])
    assert stored(engine) == expected([s for s in history if s not in source.unreadable])
    with engine.connect() as conn:
        done = syncstate.done_windows(conn, "alice")
    assert syncstate.gaps(done, 0, 1_800_000_000) == []  # the window counts as complete


def test_the_store_refuses_times_outside_the_range_whatever_the_source(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    now = 1_790_000_000
    plays = [Scrobble(uts, "A", "T") for uts in
             (1_796_470_000_000, 2**63, -1, now + MAX_AHEAD_SECONDS + 1,  # never stored
              now + MAX_AHEAD_SECONDS, 1, 0)]  # stored: a day ahead, 1970, undated
    with write(engine) as conn:
        added = scrobble_queries.insert_rows(conn, "alice", with_ordinals(plays), "import:x",
                                             clock=lambda: now)
    assert added == 3
    assert [uts for uts, *_ in stored(engine)] == [0, 1, now + MAX_AHEAD_SECONDS]
    assert "4 scrobbles of alice from import:x were not stored" in caplog.text


@pytest.mark.parametrize(
    ("done", "expected_gaps"),
    [
        ([], [(0, 100)]),
        ([(0, 100)], []),
        ([(10, 20), (50, 60)], [(60, 100), (20, 50), (0, 10)]),
        ([(0, 30), (20, 40)], [(40, 100)]),
        ([(90, 120)], [(0, 90)]),
    ],
)
def test_gaps(done: list[tuple[int, int]], expected_gaps: list[tuple[int, int]]) -> None:
    assert syncstate.gaps(done, 0, 100) == expected_gaps


def test_storable_span_is_the_storable_rule() -> None:
    for now in (1_790_000_000.0, 1_790_000_000.75):
        lo, hi = storable_span(now)
        for uts in (-2**63, -1, 0, 1, 2, int(now), int(now) + MAX_AHEAD_SECONDS,
                    int(now) + MAX_AHEAD_SECONDS + 1, 1_796_470_000_000, 2**63):
            assert storable(uts, now) == (lo <= uts <= hi), uts


def test_ordinals_of_a_batch_are_those_counted_one_by_one() -> None:
    rng = random.Random(7)
    for _ in range(300):
        plays = [Scrobble(rng.randint(0, 6), rng.choice("ab"), rng.choice("xy"),
                          rng.choice(["", "z"]), loved=rng.choice([None, 1]))
                 for _ in range(rng.randint(0, 40))]
        counted = with_ordinals(plays, {})  # the counter every play goes through
        assert with_ordinals(plays) == counted
        assert with_ordinals(iter(plays)) == counted


def _plain_intervals(stamps: list[int], low: int, high: int) -> list[tuple[int, int]]:
    """merge's fetch ranges as first written: one pass over the sorted times."""
    stamps = sorted(stamps)
    out = []
    start, end = stamps[0] - low, stamps[0] + high
    for uts in stamps[1:]:
        if uts - low > end + merge._FETCH_GAP:
            out.append((start, end))
            start = uts - low
        end = max(end, uts + high)
    out.append((start, end))
    return out


def test_merge_fetch_ranges_are_the_coalesced_play_ranges() -> None:
    rng = random.Random(3)
    for _ in range(300):
        size = rng.randint(1, 60)
        stamps = [rng.randint(0, 20 * merge._FETCH_GAP) for _ in range(size)]
        low, high = rng.choice([(180, 180), (360, 540), (0, 59)])
        rows = with_ordinals([Scrobble(uts, "A", "T") for uts in stamps])
        assert list(merge._intervals(rows, low, high)) == _plain_intervals(stamps, low, high)
    for gap in (0, 1, 359 + merge._FETCH_GAP, 360 + merge._FETCH_GAP, 361 + merge._FETCH_GAP):
        stamps = [5000, 5000 + gap, 9000 + gap]  # exactly at the coalescing edge and around
        rows = with_ordinals([Scrobble(uts, "A", "T") for uts in stamps])
        assert list(merge._intervals(rows, 180, 180)) == _plain_intervals(stamps, 180, 180)


@pytest.mark.parametrize(("stamps", "inside"), [
    ([199, 150, 100], True), ([200, 150, 100], False), ([199, 150, 99], False),
    ([150, 250, 120], False), ([], True)])
def test_a_page_with_a_play_outside_its_window_is_not_complete(
    stamps: list[int], inside: bool
) -> None:
    from daemon.lastfm.completeness import WindowState, verify

    state = WindowState(Window(100, 200))
    plays = [Scrobble(uts, "A", "T") for uts in stamps]
    state.first_page(RecentTracksPage("alice", 1, 10, len(plays), 1, plays, 0, 0), 10)
    problem = verify(state, 10)
    assert (problem is None) == inside
    if not inside:
        assert problem == "page 1 held a scrobble outside the window"
