"""The tags job against the loopback last.fm fake: shapes, errors, unknown artists, resume."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from daemon.analytics.genres import GenreRules
from daemon.analytics.rollup import refresh
from daemon.config import load_config
from daemon.errors import JobCancelledError, LastfmFatalError, LastfmTransientError
from daemon.lastfm import tags
from daemon.lastfm.client import LastfmClient
from daemon.lastfm.pacing import Pacer
from daemon.scrobble import Scrobble, with_ordinals
from daemon.service.jobs import job_table
from daemon.stopping import StopToken
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tags as tag_store
from daemon.store import tracks
from daemon.store.engine import write
from tests.fakes.lastfm_server import DEFAULT_API_KEY, FakeLastfm

T0 = 1_700_000_000
RULES = GenreRules.build()
UTC = ZoneInfo("UTC")


@pytest.fixture
def fake() -> Iterator[FakeLastfm]:
    with FakeLastfm(seed=3) as server:
        yield server


def client_for(fake: FakeLastfm, *, api_key: str = DEFAULT_API_KEY,
               retries: int = 2) -> LastfmClient:
    return LastfmClient(api_url=fake.url, api_key=api_key, pacer=Pacer(1000), timeout=5,
                        max_retries=retries, backoff_base=0.001, backoff_cap=0.002,
                        sleep=lambda _s: None)


def store_plays(engine: Engine, plays: dict[tuple[str, str], int]) -> None:
    """Scrobbles of (artist, title) pairs, `n` plays each."""
    items = [Scrobble(T0 + i * 600 + k, artist, title, "Album")
             for i, ((artist, title), n) in enumerate(plays.items()) for k in range(n)]
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(items), "test")
        tracks.fold_new_scrobbles(conn)


def run(fake: FakeLastfm, engine: Engine, *, now: float = T0, stop: StopToken | None = None,
        **overrides: Any) -> dict[str, Any]:
    settings = tags.TagSettings(**{"give_up_after": 5, **overrides})
    with client_for(fake) as client:
        counts = tags.run(client, engine, settings, RULES, UTC, stop=stop)
        if now != T0:
            counts = tags.refresh_tags(client, engine, settings, RULES, now=lambda: now)
    return counts


def state(engine: Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT artist, status, source FROM tag_state")
        return {a: (s, src) for a, s, src in rows}


def genres(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        frame = tag_store.primary_genres(conn)
    return {a: g.split("; ") for a, g in zip(frame["artist"], frame["genres"], strict=True)}


def asked(fake: FakeLastfm, method: str = "artist.gettoptags") -> list[str]:
    return [r.params.get("artist", "") for r in fake.requests
            if r.params["method"] == method and r.fault is None]


@pytest.mark.parametrize(("body", "expected"), [
    ({"toptags": {"tag": [{"count": 100, "name": "rock"}, {"count": 78, "name": "Grunge"}]}},
     [("rock", 100), ("Grunge", 78)]),
    ({"toptags": {"tag": {"count": 100, "name": "jazz"}, "@attr": {"artist": "X"}}},
     [("jazz", 100)]),
    ({"toptags": {"tag": [], "@attr": {"artist": "X"}}}, []),
    ({"toptags": {"@attr": {"artist": "X"}}}, []),
    ({"toptags": {"tag": [{"count": "97", "name": "soul"}]}}, [("soul", 97)]),
    ({"toptags": {"tag": [{"count": 5, "name": " seen   live "}, {"name": "nocount"},
                          {"count": "x", "name": "bad"}, "junk", {"count": 3}]}},
     [("seen live", 5), ("nocount", 0)]),
    ({"toptags": {"tag": [{"count": 100, "name": "rock"}, {"count": 50, "name": "rock"}]}},
     [("rock", 100)]),
])
def test_parse_top_tags_shapes(body: dict[str, Any], expected: list[tuple[str, int]]) -> None:
    assert tags.parse_top_tags(body) == expected


@pytest.mark.parametrize("body", [{}, {"toptags": []}, {"toptags": {"tag": "rock"}},
                                  {"similar": {}}])
@pytest.mark.reliability("input", "malformed last.fm answers")
def test_parse_top_tags_refuses_a_body_without_toptags(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="toptags"):
        tags.parse_top_tags(body)


def test_tags_job_records_every_kind_of_answer(fake: FakeLastfm, engine: Engine) -> None:
    fake.set_artist_tags("Rapper", [("Hip-Hop", 100), ("seen live", 60), ("rap", 40),
                                    ("Rapper", 30), ("jazz", 5)])
    fake.set_artist_tags("Solo", [("jazz", 100)])  # one tag: served as an object
    fake.set_artist_tags("Quiet", [])
    fake.set_track_tags("Quiet", "Hush", [("ambient", 100), ("electronic", 50)])
    fake.set_artist_tags("Broken", [("rock", 100)])
    fake.faults.add("error8", count=None, method="artist.getTopTags",
                    when=lambda p: p.get("artist") == "Broken")
    store_plays(engine, {("Rapper", "Bars"): 6, ("Solo", "Blue"): 5, ("Quiet", "Hush"): 3,
                         ("Quiet", "Other"): 1, ("Nobody", "Song"): 2, ("Broken", "X"): 1})

    counts = run(fake, engine)

    assert state(engine) == {"Rapper": ("ok", "artist"), "Solo": ("ok", "artist"),
                             "Quiet": ("ok", "track"), "Nobody": ("unknown", ""),
                             "Broken": ("failed", "")}
    assert genres(engine) == {"Rapper": ["hip hop"], "Solo": ["jazz"],
                              "Quiet": ["ambient", "electronic"]}
    assert counts["asked"] == 5
    assert (counts["tagged"], counts["track_tagged"], counts["unknown"]) == (3, 1, 1)
    assert counts["errors"] == 1
    assert counts["folded"] == 18
    assert asked(fake)[:4] == ["Rapper", "Solo", "Quiet", "Nobody"]  # most played first
    assert sorted(asked(fake, "track.gettoptags")) == ["Quiet", "Quiet"]

    fake.reset_requests()
    fake.faults.clear()
    again = run(fake, engine)
    assert asked(fake) == ["Broken"]  # only the failure is asked again
    assert again["asked"] == 1
    assert state(engine)["Broken"] == ("ok", "artist")


def test_empty_tags_without_track_tags_are_remembered(fake: FakeLastfm, engine: Engine) -> None:
    fake.set_artist_tags("Quiet", [])
    store_plays(engine, {("Quiet", "Hush"): 1})
    counts = run(fake, engine, track_tags=False)
    assert counts["empty"] == 1
    assert state(engine) == {"Quiet": ("empty", "artist")}
    fake.reset_requests()
    assert run(fake, engine)["asked"] == 0
    assert fake.requests == []


@pytest.mark.reliability("input", "malformed last.fm answers")
def test_a_tag_name_no_store_can_hold_is_left_out(fake: FakeLastfm, engine: Engine) -> None:
    fake.set_artist_tags("A", [("grunge \ud800", 100), ("Rock", 90)])  # a lone surrogate
    store_plays(engine, {("A", "t"): 1})
    counts = run(fake, engine)
    assert (counts["tagged"], counts["errors"]) == (1, 0)
    with engine.connect() as conn:
        assert list(conn.exec_driver_sql("SELECT tag, weight FROM artist_tags")) == [
            ("Rock", 90)]


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_transient_faults_are_retried_by_the_client(fake: FakeLastfm, engine: Engine) -> None:
    fake.set_artist_tags("A", [("Rock", 100)])
    fake.faults.add("truncated", count=1, method="artist.getTopTags")
    fake.faults.add("error29", count=1, method="artist.getTopTags")
    store_plays(engine, {("A", "t"): 1})
    counts = run(fake, engine)
    assert counts["tagged"] == 1
    assert counts["retries"] == 2
    assert genres(engine) == {"A": ["rock"]}


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_job_gives_up_when_lastfm_keeps_failing(fake: FakeLastfm, engine: Engine) -> None:
    fake.faults.add("error11", count=None, method="artist.getTopTags")
    store_plays(engine, {(f"Artist {i:02d}", "t"): 20 - i for i in range(8)})
    with pytest.raises(LastfmTransientError, match="3 artists left"):
        run(fake, engine, give_up_after=5)
    assert [s for s, _ in state(engine).values()] == ["failed"] * 5


@pytest.mark.reliability("fault", "last.fm errors and outages")
def test_refused_key_stops_the_job(fake: FakeLastfm, engine: Engine) -> None:
    store_plays(engine, {("A", "t"): 1})
    with client_for(fake, api_key="0" * 32) as client, pytest.raises(LastfmFatalError):
        tags.run(client, engine, tags.TagSettings(), RULES, UTC)
    assert state(engine) == {}


def test_interrupted_run_resumes_where_it_stopped(fake: FakeLastfm, engine: Engine) -> None:
    names = [f"Band {i:02d}" for i in range(30)]
    for name in names:
        fake.set_artist_tags(name, [("indie", 100)])
    store_plays(engine, {(name, "t"): 40 - i for i, name in enumerate(names)})
    stop = StopToken()

    def hook(params: dict[str, str]) -> None:
        if len(asked(fake)) >= 9:
            stop.stop()

    fake.on_request(hook)
    with pytest.raises(JobCancelledError):
        run(fake, engine, stop=stop)
    first = asked(fake)
    done = set(state(engine))
    assert 9 <= len(done) <= 11
    assert done == set(first)

    fake.reset_requests()
    counts = run(fake, engine)
    assert sorted(asked(fake)) == sorted(set(names) - done)  # nobody is asked twice
    assert counts["asked"] == 30 - len(done)
    assert set(genres(engine)) == set(names)


def test_old_tags_are_refreshed_slowly_oldest_first(fake: FakeLastfm, engine: Engine) -> None:
    for name in ("A", "B", "C"):
        fake.set_artist_tags(name, [("pop", 100)])
    store_plays(engine, {("A", "t"): 3, ("B", "t"): 2, ("C", "t"): 1})
    with client_for(fake) as client:
        for i, name in enumerate(("C", "A", "B")):  # answered at T0, T0+1, T0+2
            with write(engine) as conn:
                tag_store.save_answer(conn, name, "ok", "artist", [("pop", 100)],
                                      [("pop", 100)], T0 + i)
        settings = tags.TagSettings(max_age_seconds=1000, refresh_per_run=2)
        assert tags.refresh_tags(client, engine, settings, RULES,
                                 now=lambda: T0 + 500)["asked"] == 0
        fake.set_artist_tags("C", [("metal", 100)])
        counts = tags.refresh_tags(client, engine, settings, RULES, now=lambda: T0 + 1002)
    assert counts["asked"] == 2
    assert asked(fake) == ["C", "A"]
    assert genres(engine)["C"] == ["metal"]


def test_long_runs_stop_at_their_time_budget(fake: FakeLastfm, engine: Engine) -> None:
    for name in ("A", "B", "C"):
        fake.set_artist_tags(name, [("pop", 100)])
    store_plays(engine, {("A", "t"): 3, ("B", "t"): 2, ("C", "t"): 1})
    ticks = iter(range(100))
    with client_for(fake) as client:
        counts = tags.refresh_tags(client, engine, tags.TagSettings(run_seconds=2.5), RULES,
                                   clock=lambda: float(next(ticks)))
    assert counts["asked"] < 3
    assert counts["left"] == 3 - counts["asked"]


def genre_plays(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT genre, sum(plays) FROM rollup_genre_month GROUP BY genre HAVING sum(plays)")
        return {g: int(p) for g, p in rows}


def test_new_tags_move_the_artists_plays_between_genres(fake: FakeLastfm,
                                                         engine: Engine) -> None:
    fake.set_artist_tags("A", [("jazz", 100)])
    fake.set_artist_tags("B", [])
    store_plays(engine, {("A", "t"): 3, ("B", "u"): 2})
    refresh(engine, UTC, RULES)  # folded before any tags: all untagged
    assert genre_plays(engine) == {"": 5}
    run(fake, engine, track_tags=False)
    assert genre_plays(engine) == {"jazz": 3, "": 2}
    fake.set_artist_tags("A", [("Rock", 100)])
    with client_for(fake) as client:
        tags.refresh_tags(client, engine, tags.TagSettings(max_age_seconds=10), RULES,
                          now=lambda: T0 + 10**9)
    assert genre_plays(engine) == {"rock": 3, "": 2}


def test_job_table_binds_the_tags_job_to_the_shared_client(fake: FakeLastfm,
                                                            engine: Engine) -> None:
    env = {"PLEXFM_LASTFM_API_KEY": DEFAULT_API_KEY, "PLEXFM_LASTFM_USER": "alice",
           "PLEXFM_TAGS_INTERVAL_MINUTES": "30", "PLEXFM_ANALYTICS_TIMEZONE": "Europe/Berlin"}
    config = load_config(None, environ=env)
    fake.set_artist_tags("A", [("soul", 100)])
    store_plays(engine, {("A", "t"): 2})
    with client_for(fake) as client:
        specs = {s.name: s for s in job_table(config, engine, StopToken(), lastfm=client,
                                              library_source=None)}
        tags_spec = specs["tags"]
        assert (tags_spec.interval_seconds, tags_spec.run_at_start) == (1800, True)
        counts = tags_spec.run()
        assert client.requests_sent == counts["requests"] == 1
    assert counts["tagged"] == 1
    assert tuple(tags_spec.then(counts)) == ()
    assert tuple(tags_spec.then({"left": 5})) == ("tags",)
    off = load_config(None, environ={**env, "PLEXFM_TAGS_INTERVAL_MINUTES": "0"})
    assert "tags" not in {s.name for s in job_table(off, engine, StopToken(), lastfm=client,
                                                   library_source=None)}
