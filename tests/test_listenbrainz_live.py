"""ListenBrainz beside last.fm in the service and the CLI: the job table, `plexfm pull`, a pull
killed anywhere and resumed, and Libre.fm's last.fm-compatible API through lastfm.api_url."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from daemon.cli import main
from daemon.config import load_config
from daemon.scrobble import Scrobble
from daemon.service.jobs import job_table
from daemon.stopping import StopToken
from daemon.store.engine import open_store
from tests.environment import plexfm_only
from tests.fakes.lastfm_server import DEFAULT_API_KEY, FakeLastfm
from tests.fakes.listenbrainz_server import FakeListenbrainz
from tests.scrobble_truth import truth

ROOT = Path(__file__).resolve().parent.parent


def history(count: int, seed: int, end: int) -> list[Scrobble]:
    rng = random.Random(seed)
    plays, uts = [], end - count * 200
    for n in range(count):
        uts += rng.choice((0, 1, 150, 200, 250))
        plays.append(Scrobble(uts, f"Band {n % 23}", f"Track {n}", "Album"))
    return plays


def rows(data: Path, source: str) -> list[tuple[object, ...]]:
    engine = open_store(f"sqlite:///{data / 'plexfm.db'}")
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(text(
            "SELECT uts, artist, title, album, ordinal FROM scrobbles WHERE source = :s"
            " ORDER BY 1, 2, 3, 4, 5"), {"s": source})]
    engine.dispose()
    return found


@pytest.fixture
def fakes() -> Iterator[tuple[FakeLastfm, FakeListenbrainz]]:
    now = int(time.time())
    with FakeLastfm() as lastfm, FakeListenbrainz(per_ip=100_000) as lb:
        lastfm.add_user("alice", history(50, seed=1, end=now - 86_400))
        lb.add_user("alice_lb", history(3_000, seed=2, end=now - 3_600))
        yield lastfm, lb


def environment(lastfm: FakeLastfm, lb: FakeListenbrainz, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXFM_")}
    env.update({
        "PLEXFM_LASTFM_API_KEY": DEFAULT_API_KEY, "PLEXFM_LASTFM_USER": "alice",
        "PLEXFM_LASTFM_API_URL": lastfm.url, "PLEXFM_LASTFM_REQUESTS_PER_SECOND": "1000",
        "PLEXFM_LISTENBRAINZ_USER": "alice_lb", "PLEXFM_LISTENBRAINZ_API_URL": lb.url,
        "PLEXFM_LISTENBRAINZ_PAGE_SIZE": "20", "PLEXFM_STORE_DATA_DIR": str(data),
        "PLEXFM_LOG_LEVEL": "WARNING",
    })
    return env


def test_the_job_table_pulls_listenbrainz_on_the_pull_schedule(
    fakes: tuple[FakeLastfm, FakeListenbrainz], engine: Engine, tmp_path: Path
) -> None:
    lastfm, lb = fakes
    config = load_config(None, environ=environment(lastfm, lb, tmp_path))
    from daemon.app import build_lastfm_client, build_listenbrainz_client

    lb_client = build_listenbrainz_client(config)
    assert lb_client is not None
    with build_lastfm_client(config) as lastfm_client, lb_client:
        specs = {s.name: s for s in job_table(config, engine, StopToken(), lastfm=lastfm_client,
                                              library_source=None, listenbrainz=lb_client)}
        spec = specs["listenbrainz"]
        assert (spec.interval_seconds, spec.run_at_start) == (specs["pull"].interval_seconds,
                                                              True)
        counts = spec.run()
    assert counts["added"] == 3_000
    assert tuple(spec.then(counts)) == ("match", "tags")
    off = load_config(None, environ={**environment(lastfm, lb, tmp_path),
                                     "PLEXFM_LISTENBRAINZ_USER": ""})
    assert build_listenbrainz_client(off) is None


def test_plexfm_pull_pulls_both_and_merges_what_both_have(
    fakes: tuple[FakeLastfm, FakeListenbrainz], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    lastfm, lb = fakes
    both = lastfm.scrobbles("alice")[:10]  # also scrobbled to ListenBrainz, 2 s later
    lb.add_listens("alice_lb", [s._replace(uts=s.uts + 2, album="") for s in both])
    for name, value in environment(lastfm, lb, tmp_path).items():
        monkeypatch.setenv(name, value)
    assert main(["pull"]) == 0
    out = capsys.readouterr().out
    assert "scrobbles, 50 new" in out
    assert "ListenBrainz listens, 3,000 new, 10 merged with the same plays" in out
    assert len(rows(tmp_path, "listenbrainz")) == 3_000


@pytest.mark.slow
def test_a_killed_listenbrainz_pull_resumes_to_exactly_the_truth(
    fakes: tuple[FakeLastfm, FakeListenbrainz], tmp_path: Path
) -> None:
    lastfm, lb = fakes
    env = {**environment(lastfm, lb, tmp_path), "PLEXFM_LISTENBRAINZ_PAGE_SIZE": "10"}
    rng = random.Random(20261206)
    kills = 0
    for round_ in range(10):
        lb.requests.clear()
        process = subprocess.Popen([sys.executable, "-m", "daemon", "pull"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        target, deadline = rng.randint(1, 50), time.monotonic() + 60
        while len(lb.requests) < target and process.poll() is None:
            assert time.monotonic() < deadline, "the pull made no progress"
            time.sleep(0.002)
        if process.poll() is not None:
            break
        process.kill()
        process.wait()
        kills += 1
        # meanwhile: new listens, and a phone's queue submitted late (a day back)
        now = int(time.time()) - 2
        lb.add_listens("alice_lb", [Scrobble(now, "Later", f"New {round_}"),
                                    Scrobble(now - 86_400, "Phone", f"Late {round_}")])
    assert kills >= 5, "the pull finished before it could be killed often enough"
    final = subprocess.run([sys.executable, "-m", "daemon", "pull"], cwd=ROOT, env=env,
                           capture_output=True, timeout=300, check=False)
    assert final.returncode == 0, final.stderr.decode()
    assert rows(tmp_path, "listenbrainz") == truth(lb.listens("alice_lb"))


def test_libre_fm_works_through_lastfm_api_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Libre.fm serves the last.fm API at https://libre.fm/2.0/ (any 32-character key), with a
    smaller page size: the pull falls back to pages of 200 when 1000 is refused."""
    with FakeLastfm(api_key="librefm0librefm0librefm0librefm0", max_limit=200) as libre:
        libre.add_user("bob", history(700, seed=4, end=int(time.time()) - 60))
        plexfm_only(monkeypatch)
        monkeypatch.setenv("PLEXFM_LASTFM_API_URL", libre.url)
        monkeypatch.setenv("PLEXFM_LASTFM_API_KEY", "librefm0librefm0librefm0librefm0")
        monkeypatch.setenv("PLEXFM_LASTFM_USER", "bob")
        monkeypatch.setenv("PLEXFM_STORE_DATA_DIR", str(tmp_path))
        assert main(["pull"]) == 0
        assert "scrobbles, 700 new" in capsys.readouterr().out
        assert rows(tmp_path, "lastfm") == truth(libre.scrobbles("bob"))
        assert {r.params.get("limit") for r in libre.requests} >= {"1000", "200"}
