"""Pull end to end against the loopback last.fm fake: the store must equal the server's truth."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from daemon.errors import LastfmFatalError, LastfmTransientError
from daemon.importers.job import import_files
from daemon.lastfm import pull as ingest
from daemon.lastfm.client import LastfmClient
from daemon.lastfm.pacing import Pacer
from daemon.scrobble import Scrobble
from daemon.store import syncstate
from tests import scrobble_truth
from tests.fakes.history_gen import generate_history
from tests.fakes.lastfm_server import DEFAULT_API_KEY, MS_TIMESTAMP, RECORDED_USER, FakeLastfm

NOW = 1_790_000_000  # 2026-09-21: after every generated scrobble
DAY = 86_400
HISTORY = generate_history(6_000, seed=11)


@pytest.fixture
def fake() -> Iterator[FakeLastfm]:
    server = FakeLastfm(seed=5)
    server.add_user("alice", HISTORY)
    with server:
        yield server


def make_client(fake: FakeLastfm, *, api_key: str = DEFAULT_API_KEY,
                retries: int = 6) -> LastfmClient:
    return LastfmClient(api_url=fake.url, api_key=api_key, pacer=Pacer(1000), timeout=5,
                        max_retries=retries, backoff_base=0.001, backoff_cap=0.01)


def settings(**overrides: Any) -> ingest.PullSettings:
    values: dict[str, Any] = {"user": "alice", "page_size": 200, "window_pages": 5,
                              "max_in_flight": 4, "overlap_seconds": 14 * DAY}
    values.update(overrides)
    return ingest.PullSettings(**values)


def pull(fake: FakeLastfm, engine: Engine, *, now: int = NOW, **overrides: Any) -> dict[str, Any]:
    with make_client(fake) as client:
        return ingest.pull(client, engine, settings(**overrides), now=lambda: now)


def stored(engine: Engine, user: str = "alice") -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT uts, artist, title, album, ordinal, artist_mbid, track_mbid, album_mbid"
            " FROM scrobbles WHERE user = :u ORDER BY uts, artist, title, album, ordinal"
        ), {"u": user})
        return [tuple(r) for r in rows]


def truth(items: list[Scrobble], before: int = NOW) -> list[tuple[Any, ...]]:
    return scrobble_truth.truth(items, before=before, mbids=True)


def test_backfill_stores_exactly_the_history(fake: FakeLastfm, engine: Engine) -> None:
    counts = pull(fake, engine)
    assert stored(engine) == truth(fake.scrobbles("alice"))
    assert counts["backfill_complete"] is True
    assert counts["added"] == len(HISTORY)
    with engine.connect() as conn:
        state = syncstate.load(conn, "alice")
    assert state.backfill_to == NOW
    assert state.cursor == NOW


def test_loved_flag_and_raw_strings_are_kept(fake: FakeLastfm, engine: Engine) -> None:
    pull(fake, engine)
    with engine.connect() as conn:
        loved = conn.execute(text("SELECT count(*) FROM scrobbles WHERE loved = 1")).scalar()
        unknown = conn.execute(text("SELECT count(*) FROM scrobbles WHERE loved IS NULL")).scalar()
    assert loved == sum(1 for s in HISTORY if s.loved)
    assert unknown == 0


def test_second_pull_with_nothing_new_is_one_request(fake: FakeLastfm, engine: Engine) -> None:
    pull(fake, engine)
    fake.reset_requests()
    counts = pull(fake, engine, now=NOW + 600)
    assert counts["requests"] == 1
    assert counts["added"] == 0
    assert len(fake.requests) == 1


def test_new_and_backdated_scrobbles_arrive(fake: FakeLastfm, engine: Engine) -> None:
    pull(fake, engine)
    new = [Scrobble(NOW + 100, "New Artist", "Fresh", "Now")]
    backdated = [Scrobble(NOW - 10 * DAY, "Offline", "Phone Sync", "Late"),
                 Scrobble(NOW - 10 * DAY, "Offline", "Phone Sync", "Late")]  # same second twice
    fake.add_scrobbles("alice", new + backdated)
    counts = pull(fake, engine, now=NOW + 3600)
    assert counts["added"] == 3
    assert stored(engine) == truth(fake.scrobbles("alice"), before=NOW + 3600)


def test_many_new_scrobbles_after_a_long_pause(fake: FakeLastfm, engine: Engine) -> None:
    pull(fake, engine)
    month = generate_history(3_000, seed=12, start_uts=NOW, end_uts=NOW + 30 * DAY, legacy=0)
    fake.add_scrobbles("alice", month)
    counts = pull(fake, engine, now=NOW + 31 * DAY)
    assert counts["added"] == 3_000
    assert stored(engine) == truth(fake.scrobbles("alice"), before=NOW + 31 * DAY)


def test_scrobbles_arriving_during_the_backfill(fake: FakeLastfm, engine: Engine) -> None:
    arrivals = iter(range(NOW - 5 * DAY, NOW, 3600))

    def scrobble_meanwhile(params: dict[str, str]) -> None:
        if params.get("method") == "user.getrecenttracks" and params.get("page") == "2":
            uts = next(arrivals, None)
            if uts is not None:
                fake.add_scrobbles("alice", [Scrobble(uts, "Live", "Meanwhile", "Now")])

    fake.on_request(scrobble_meanwhile)
    pull(fake, engine)
    fake.remove_hook(scrobble_meanwhile)
    pull(fake, engine, now=NOW + 60)
    assert stored(engine) == truth(fake.scrobbles("alice"), before=NOW + 60)


@pytest.mark.reliability("fault", "last.fm errors and outages")
@pytest.mark.parametrize(
    "kind",
    ["error8", "error11", "error16", "error29", "http500", "http502", "http503", "truncated",
     "user_not_found", "empty_page", "total_drift", "wrong_user", "disconnect"],
)
def test_every_fault_is_survived(fake: FakeLastfm, engine: Engine, kind: str) -> None:
    fault = fake.faults.add(kind, count=3, every=4)
    counts = pull(fake, engine)
    assert fault.fired == 3
    assert stored(engine) == truth(fake.scrobbles("alice"))
    assert counts["retries"] + counts["refetched_windows"] >= 1


@pytest.mark.reliability("input", "out-of-range play times")
@pytest.mark.parametrize("bad", [MS_TIMESTAMP, 2**63, -1], ids=["ms", "2**63", "negative"])
def test_a_time_out_of_range_is_skipped_and_counted_and_never_poisons_a_pull(
    fake: FakeLastfm, engine: Engine, bad: int
) -> None:
    pull(fake, engine)
    new = [Scrobble(NOW + 100 + i, "New Artist", f"Song {i}", "Now") for i in range(3)]
    fake.add_scrobbles("alice", new)
    fake.faults.add("bad_uts", count=None, uts=bad)  # the newest play of every page
    for minutes in (60, 61):  # every pull sees it, and every pull succeeds
        counts = pull(fake, engine, now=NOW + minutes * 60)
        assert counts["skipped"] == 1
    assert stored(engine) == truth([s for s in fake.scrobbles("alice") if s != new[-1]],
                                   before=NOW + 3600)
    fake.faults.clear()  # the server sends it right again: it arrives
    assert pull(fake, engine, now=NOW + 62 * 60)["added"] == 1
    assert stored(engine) == truth(fake.scrobbles("alice"), before=NOW + 3600)


@pytest.mark.reliability("input", "malformed last.fm answers")
def test_a_name_no_store_can_hold_skips_its_scrobble_not_the_page(
    fake: FakeLastfm, engine: Engine
) -> None:
    bad = Scrobble(NOW - 3 * DAY, "bad \ud800 name", "Song", "Album")  # a lone surrogate
    fake.add_scrobbles("alice", [bad])
    counts = pull(fake, engine)
    assert counts["skipped"] == 2  # by the backfill, and again by the 14-day re-scan
    assert stored(engine) == truth([s for s in fake.scrobbles("alice") if s != bad])


@pytest.mark.reliability("fault", "slow, huge and bomb last.fm answers")
def test_slow_answers_time_out_and_are_retried(fake: FakeLastfm, engine: Engine) -> None:
    fake.faults.add("slow", count=1, seconds=6)  # client timeout is 5 s
    with LastfmClient(api_url=fake.url, api_key=DEFAULT_API_KEY, pacer=Pacer(1000),
                      timeout=0.5, backoff_base=0.001) as client:
        counts = ingest.pull(client, engine, settings(), now=lambda: NOW)
    assert counts["retries"] >= 1
    assert stored(engine) == truth(fake.scrobbles("alice"))


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_persistent_outage_fails_the_pull_and_the_next_one_resumes(
    fake: FakeLastfm, engine: Engine
) -> None:
    fake.faults.add("http503", count=10_000, when=lambda p: p.get("page") == "3")
    with make_client(fake) as client, pytest.raises(LastfmTransientError, match="HTTP 503"):
        ingest.pull(client, engine, settings(), now=lambda: NOW)
    assert 0 < len(stored(engine)) < len(HISTORY)
    fake.faults.clear()
    counts = pull(fake, engine, now=NOW + 60)
    assert counts["backfill_complete"] is True
    assert stored(engine) == truth(fake.scrobbles("alice"))


@pytest.mark.reliability("fault", "last.fm errors and outages")
@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda f: f.suspended_keys.add(DEFAULT_API_KEY), "suspended"),
        (lambda f: f.set_private("alice"), "private"),
        (lambda f: f.api_keys.clear(), "rejected the API key"),
    ],
)
def test_fatal_errors_stop_at_once(fake: FakeLastfm, engine: Engine, setup: Any,
                                   message: str) -> None:
    setup(fake)
    fake.reset_requests()
    with make_client(fake) as client, pytest.raises(LastfmFatalError, match=message) as caught:
        ingest.pull(client, engine, settings(), now=lambda: NOW)
    assert len(fake.requests) == 1
    assert DEFAULT_API_KEY not in str(caught.value)


@pytest.mark.reliability("input", "bad configuration")
def test_unknown_user_is_fatal(fake: FakeLastfm, engine: Engine) -> None:
    with make_client(fake) as client, pytest.raises(LastfmFatalError, match="no user 'bob'"):
        ingest.pull(client, engine, settings(user="bob"), now=lambda: NOW)


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_large_pages_fall_back_to_200_when_refused(fake: FakeLastfm, engine: Engine) -> None:
    fake.max_limit = 200
    counts = pull(fake, engine, page_size=1000)
    assert counts["backfill_complete"] is True
    assert stored(engine) == truth(fake.scrobbles("alice"))
    with engine.connect() as conn:
        assert syncstate.load(conn, "alice").page_size == 200
    fake.reset_requests()
    pull(fake, engine, now=NOW + 60, page_size=1000)
    assert all(r.params.get("limit") == "200" for r in fake.requests)


def test_pages_of_1000_need_five_times_fewer_requests(fake: FakeLastfm, engine: Engine) -> None:
    counts = pull(fake, engine, page_size=1000, window_pages=20)
    assert counts["requests"] <= len(HISTORY) / 1000 * 1.3 + 2
    assert stored(engine) == truth(fake.scrobbles("alice"))


def test_full_pull_walks_again_and_adds_nothing(fake: FakeLastfm, engine: Engine) -> None:
    pull(fake, engine)
    with make_client(fake) as client:
        counts = ingest.pull(client, engine, settings(), full=True, now=lambda: NOW + 60)
    assert counts["added"] == 0
    assert counts["fetched"] >= len(HISTORY)
    assert stored(engine) == truth(fake.scrobbles("alice"))


def test_recorded_responses_replay_through_the_real_protocol(engine: Engine) -> None:
    with FakeLastfm() as server:
        recorded = server.add_recorded_user()
        with make_client(server) as client:
            ingest.pull(client, engine, settings(user=RECORDED_USER), now=lambda: NOW)
    assert stored(engine, RECORDED_USER) == truth(recorded)
    # two captured pages of 200; the captured window's 6 scrobbles lie inside the July page
    assert len(recorded) == 400


def test_two_users_share_one_store(fake: FakeLastfm, engine: Engine) -> None:
    bob = generate_history(500, seed=13)
    fake.add_user("bob", bob)
    pull(fake, engine)
    pull(fake, engine, user="bob")
    assert stored(engine, "bob") == truth(fake.scrobbles("bob"))
    assert stored(engine, "alice") == truth(fake.scrobbles("alice"))


def test_import_then_pull_stores_each_play_once(
    fake: FakeLastfm, engine: Engine, tmp_path: Any
) -> None:
    older = [s for s in HISTORY if s.uts < 1_500_000_000]
    export = tmp_path / "recenttracks-alice-1.csv"
    lines = ["uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid"]
    for s in older:
        fields = [str(s.uts), "x", s.artist, s.artist_mbid, s.album, s.album_mbid, s.title,
                  s.track_mbid]
        lines.append(",".join('"' + f.replace('"', '""') + '"' for f in fields))
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported = import_files(engine, [export], "alice")
    assert imported["added"] == len(older)  # undated legacy plays (uts 0) included
    assert imported["skipped"] == 0
    counts = pull(fake, engine)
    assert counts["added"] == len(HISTORY) - len(older)
    assert stored(engine) == truth(fake.scrobbles("alice"))
    again = import_files(engine, [export], "alice")
    assert again["added"] == 0


@pytest.mark.parametrize("backfill", [True, False], ids=["backfill", "incremental"])
def test_plays_another_source_stored_first_are_merged_not_doubled(
    fake: FakeLastfm, engine: Engine, tmp_path: Any, backfill: bool
) -> None:
    """Issue 13: Spotify (or ListenBrainz) history imported BEFORE the last.fm pull reaches
    the same plays: the pull merges them (start times a few seconds apart, names written
    another way) instead of storing each play twice."""
    recent = sorted((s for s in HISTORY if s.uts > 0), key=lambda s: s.uts)[-40:]
    if not backfill:  # the backfill ended 20 days before these plays
        pull(fake, engine, now=recent[0].uts - 20 * DAY)
    export = tmp_path / "listens.jsonl"
    export.write_text("".join(
        json.dumps({"listened_at": s.uts + 7, "track_metadata": {
            "artist_name": s.artist.upper(), "track_name": s.title}}) + "\n"
        for s in recent), encoding="utf-8")
    assert import_files(engine, [export], "alice")["added"] == 40
    counts = pull(fake, engine)
    assert counts["merged"] == 40
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM scrobbles WHERE user = 'alice'")).scalar()
    assert total == len(truth(fake.scrobbles("alice")))  # every play once


def test_a_pull_collects_garbage_less_often_and_restores_the_setting(
    fake: FakeLastfm, engine: Engine
) -> None:
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    fake.on_request(lambda _params: during.append(gc.get_threshold()))
    pull(fake, engine)
    assert during
    assert {t[0] for t in during} == {max(before[0], ingest.YOUNG_COLLECTION_EVERY)}
    assert gc.get_threshold() == before
