"""`plexfm pull` killed with SIGKILL at random points, many times, then resumed: the store must
end equal to the server's truth, with no gap and no duplicate."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from daemon.scrobble import Scrobble
from daemon.store.engine import open_store
from tests.fakes.history_gen import generate_history
from tests.fakes.lastfm_server import DEFAULT_API_KEY, FakeLastfm
from tests.scrobble_truth import truth

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow,
              pytest.mark.reliability("fault", "SIGKILL during a pull, then resume")]


@pytest.fixture
def fake() -> Iterator[FakeLastfm]:
    server = FakeLastfm(seed=9)
    server.add_user("alice", generate_history(40_000, seed=21))
    with server:
        yield server


def pull_process(fake: FakeLastfm, data: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXFM_")}
    env.update({
        "PLEXFM_LASTFM_API_KEY": DEFAULT_API_KEY, "PLEXFM_LASTFM_USER": "alice",
        "PLEXFM_LASTFM_API_URL": fake.url, "PLEXFM_LASTFM_REQUESTS_PER_SECOND": "1000",
        "PLEXFM_LASTFM_PAGE_SIZE": "200", "PLEXFM_LASTFM_WINDOW_PAGES": "3",
        "PLEXFM_STORE_DATA_DIR": str(data), "PLEXFM_LOG_LEVEL": "WARNING",
    })
    return subprocess.Popen([sys.executable, "-m", "daemon", "pull"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_requests(fake: FakeLastfm, count: int, process: subprocess.Popen[bytes]) -> bool:
    """Poll until the fake has answered `count` requests; False if the pull finished first."""
    deadline = time.monotonic() + 60
    while len(fake.requests) < count:
        if process.poll() is not None:
            return False
        if time.monotonic() > deadline:
            pytest.fail("the pull made no progress before the deadline")
        time.sleep(0.002)
    return True


def identities(data: Path) -> list[tuple[object, ...]]:
    engine = open_store(f"sqlite:///{data / 'plexfm.db'}")
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(
            "SELECT uts, artist, title, album, ordinal FROM scrobbles ORDER BY 1, 2, 3, 4, 5"))]
    engine.dispose()
    return rows


def test_killed_backfill_resumes_to_exactly_the_truth(
    fake: FakeLastfm, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(20261121)
    kills = 0
    for _ in range(12):
        fake.reset_requests()
        process = pull_process(fake, tmp_path)
        if not wait_for_requests(fake, rng.randint(1, 60), process):
            break
        os.kill(process.pid, signal.SIGKILL)
        if process.wait() != -signal.SIGKILL:  # it finished just before the kill
            break
        kills += 1
        # between runs the user goes on listening, and a phone syncs plays backdated by days
        # (last.fm accepts up to 14 days back from the time of submission: the pull's clock)
        # (a play stamped in the very second a pull starts is the next pull's: `to` is exclusive)
        now = int(time.time()) - 2
        fake.add_scrobbles("alice", [Scrobble(now, f"Later {kills}", "New", "A"),
                                     Scrobble(now - 3 * 86_400, "Phone", f"Sync {kills}", "")])
    record_property("reliability_cases", kills)  # each kill is one fault survived (or not)
    assert kills >= 5, "the pull finished before it could be killed often enough"
    final = pull_process(fake, tmp_path)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert identities(tmp_path) == truth(fake.scrobbles("alice"))
