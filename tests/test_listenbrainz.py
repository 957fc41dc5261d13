"""ListenBrainz as a live source: the client against the fake (paging, rate limits, errors)
and the pull (whole history, incremental, late listens, merged with last.fm plays)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from daemon.errors import ListenbrainzFatalError, ListenbrainzTransientError
from daemon.listenbrainz import pull as lb_pull
from daemon.listenbrainz.client import ListenbrainzClient
from daemon.scrobble import Scrobble, with_ordinals
from daemon.store import lbsync
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write
from tests.fakes.listenbrainz_server import FakeClock, FakeListenbrainz
from tests.scrobble_truth import truth

NOW = 1_800_000_000
TOKEN = "lb-token-0123456789"


def history(count: int, seed: int, start: int = NOW - 400 * 86_400) -> list[Scrobble]:
    """`count` listens, several of them sharing a second (a device syncing its queue)."""
    rng = random.Random(seed)
    plays, uts = [], start
    for n in range(count):
        uts += rng.choice((0, 0, 1, 180, 240, 3_600))
        plays.append(Scrobble(uts, f"Artist {n % 37}", f"Song {n}", rng.choice(("", "LP"))))
    return plays


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeListenbrainz]:
    with FakeListenbrainz(clock=clock, per_ip=1000, per_token=1000) as server:
        server.tokens[TOKEN] = "alice_lb"
        server.add_user("alice_lb", history(2_500, seed=3))
        yield server


def client(fake: FakeListenbrainz, clock: FakeClock, **kwargs: object) -> ListenbrainzClient:
    return ListenbrainzClient(api_url=fake.url, sleep=clock.advance, clock=clock,
                              **kwargs)  # type: ignore[arg-type]


def settings(page_size: int = 100) -> lb_pull.LbPullSettings:
    return lb_pull.LbPullSettings("alice_lb", "alice", page_size=page_size,
                                  overlap_seconds=14 * 86_400)


def stored(engine: Engine, source: str = "listenbrainz") -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT uts, artist, title, album, ordinal FROM scrobbles WHERE source = :s"
            " ORDER BY 1, 2, 3, 4, 5"), {"s": source})]


# ---- the client -----------------------------------------------------------------------------


def test_pages_come_newest_first_and_carry_the_token(fake: FakeListenbrainz,
                                                     clock: FakeClock) -> None:
    with client(fake, clock, token=TOKEN) as lb:
        page = lb.listens("alice_lb", max_ts=NOW, count=50, now=NOW)
    newest = fake.listens("alice_lb")[:50]
    assert page.scrobbles == newest
    assert (page.count, page.oldest) == (50, newest[-1].uts)
    assert fake.requests[-1].token == TOKEN
    assert fake.requests[-1].params == {"max_ts": str(NOW), "count": "50"}


def test_a_listen_that_is_not_a_play_is_counted_not_fatal(fake: FakeListenbrainz,
                                                          clock: FakeClock) -> None:
    fake.add_user("bob", [Scrobble(NOW - 10, "A", "T")])
    fake.add_raw("bob", {"listened_at": NOW - 5, "track_metadata": {"artist_name": "",
                                                                    "track_name": "U"}})
    with client(fake, clock) as lb:
        page = lb.listens("bob", max_ts=NOW, count=10, now=NOW)
    assert page.scrobbles == [Scrobble(NOW - 10, "A", "T")]
    assert (page.count, page.oldest, page.skipped) == (2, NOW - 10, ["artist_name is missing"])


def test_a_spent_window_is_waited_out_before_the_next_request(clock: FakeClock) -> None:
    with FakeListenbrainz(clock=clock, per_ip=3, window=10) as fake:
        fake.add_user("carol", history(40, seed=5))
        with client(fake, clock) as lb:
            for _ in range(7):
                lb.listens("carol", max_ts=NOW, count=5, now=NOW)
            assert [seen.status for seen in fake.requests] == [200] * 7
            assert lb.waited > 0  # it paused when X-RateLimit-Remaining said 0


def test_a_429_is_retried_after_the_servers_reset_in(clock: FakeClock) -> None:
    with FakeListenbrainz(clock=clock, per_ip=1, window=10) as fake:
        fake.add_user("carol", history(40, seed=5))
        with client(fake, clock) as other:  # another program on this address spends it
            other.listens("carol", max_ts=NOW, count=5, now=NOW)
        reset_in = 10 - int(clock()) % 10
        with client(fake, clock) as lb:
            page = lb.listens("carol", max_ts=NOW, count=5, now=NOW)
            assert page.count == 5
            assert [seen.status for seen in fake.requests] == [200, 429, 200]
            assert (lb.retries, lb.waited) == (1, reset_in)


def test_server_errors_are_retried_then_reported(fake: FakeListenbrainz,
                                                 clock: FakeClock) -> None:
    fake.fail(503, count=2)
    fake.fail_truncated()
    with client(fake, clock, max_retries=3) as lb:
        assert lb.listens("alice_lb", max_ts=NOW, count=5, now=NOW).count == 5
        assert lb.retries == 3
        fake.fail(502, count=10)
        with pytest.raises(ListenbrainzTransientError, match="answered 502"):
            lb.listens("alice_lb", max_ts=NOW, count=5, now=NOW)


def test_an_unknown_user_is_fatal_and_the_token_never_shows(fake: FakeListenbrainz,
                                                            clock: FakeClock) -> None:
    with client(fake, clock, token=TOKEN) as lb, pytest.raises(ListenbrainzFatalError) as err:
        lb.listens("nobody", max_ts=NOW, count=5, now=NOW)
    assert str(err.value) == "ListenBrainz has no user 'nobody' (listenbrainz.user)"
    assert TOKEN not in str(err.value)


# ---- the pull -------------------------------------------------------------------------------


def test_the_first_pull_stores_the_whole_history_once(
    fake: FakeListenbrainz, clock: FakeClock, engine: Engine
) -> None:
    with client(fake, clock) as lb:
        counts = lb_pull.pull(lb, engine, settings(page_size=7), now=clock)
    assert stored(engine) == truth(fake.listens("alice_lb"))
    assert counts["added"] == len(fake.listens("alice_lb")) == 2_500
    # pages overlap on their oldest second: fetched more than once, stored once
    assert counts["fetched"] > counts["added"]
    with engine.connect() as conn:
        state = lbsync.load(conn, "alice_lb", "alice")
    assert (state.cursor, state.walk_end) == (NOW + 1, None)


def test_later_pulls_fetch_new_and_late_listens_only(
    fake: FakeListenbrainz, clock: FakeClock, engine: Engine
) -> None:
    with client(fake, clock) as lb:
        lb_pull.pull(lb, engine, settings(), now=clock)
        clock.advance(3_600)
        fake.add_listens("alice_lb", [
            Scrobble(NOW + 600, "New", "Listen"),
            Scrobble(NOW - 3 * 86_400, "Phone", "Offline queue"),  # submitted late
        ])
        before = len(fake.requests)
        counts = lb_pull.pull(lb, engine, settings(), now=clock)
    assert (counts["added"], counts["merged"]) == (2, 0)
    assert len(fake.requests) - before <= 3  # the overlap's pages, not the history
    assert stored(engine) == truth(fake.listens("alice_lb"))


def test_listens_last_fm_already_has_are_merged(
    fake: FakeListenbrainz, clock: FakeClock, engine: Engine
) -> None:
    fake.add_user("dave", [Scrobble(NOW - 1000, "Sigur Rós", "Hoppípolla", "Takk..."),
                           Scrobble(NOW - 500, "Only", "On ListenBrainz")])
    with write(engine) as conn:  # the same play, scrobbled to last.fm a few seconds apart
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(
            [Scrobble(NOW - 1003, "Sigur Ros", "Hoppipolla", "Takk...")]), "lastfm",
            clock=lambda: NOW)
    with client(fake, clock) as lb:
        dave = lb_pull.LbPullSettings("dave", "alice")
        first = lb_pull.pull(lb, engine, dave, now=clock)
        again = lb_pull.pull(lb, engine, dave, now=clock)  # the overlap re-reads both
    assert (first["added"], first["merged"]) == (1, 1)
    assert (again["added"], again["merged"], again["already"]) == (0, 0, 2)
    assert stored(engine) == [(NOW - 500, "Only", "On ListenBrainz", "", 0)]


def test_a_failed_page_leaves_a_walk_that_resumes_where_it_stopped(
    fake: FakeListenbrainz, clock: FakeClock, engine: Engine
) -> None:
    with client(fake, clock, max_retries=0) as lb:
        fake.fail(500, after=5)
        with pytest.raises(ListenbrainzTransientError, match="answered 500"):
            lb_pull.pull(lb, engine, settings(), now=clock)
        with engine.connect() as conn:
            state = lbsync.load(conn, "alice_lb", "alice")
        assert state.walking
        assert 0 < len(stored(engine)) < 2_500
        fake.requests.clear()
        lb_pull.pull(lb, engine, settings(), now=clock)
    assert fake.requests[0].params["max_ts"] == str(state.walk_next)  # not the start again
    assert stored(engine) == truth(fake.listens("alice_lb"))
