"""Every page of the status page in real Chromium, at 1280 px and on a 390x844 phone, with a
store that looks like a real one (applied plays, a queue, failed and dry runs, years of plays
with genres): no console error (CSP violations included) and no failed request on any page,
and the layout facts of tests/browsing.py. A screenshot of each page and size is saved (to
tests/artifacts/, or to docs/screenshots/ by `make screenshots`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from daemon.analytics.report import AnalyticsSettings
from daemon.scrobble import Scrobble, with_ordinals
from daemon.service.runs import JobRunner
from daemon.store import matches, pagestats, tracks
from daemon.store import scrobbles as scrobble_queries
from daemon.store import tags as tag_store
from daemon.store.engine import open_store, write
from tests.browsing import (
    DEVICES,
    SHOTS,
    Served,
    layout_problems,
    needs_chromium,
    rows_of,
    watch,
)
from tests.test_analytics import RULES
from tests.test_web import build_store

pytestmark = needs_chromium
PAGES = {"dashboard": "/", "queue": "/queue", "matches": "/matches?status=all",
         "library": "/library", "history": "/history", "analytics": "/analytics"}
# artists of the Analytics page: long names, other scripts, one genre each
ARTISTS = {"The Endless Dreams": "folk", "Xavier & the Radios": "rock", "Ночные Тени": "jazz",
           "Κώστας Ιωάννου": "soul", "Wren & the Owls": "metal", "Daft Punk feat. Pharrell":
           "pop", "The Restless Lanterns": "blues", "Łukasz & the Lights": "reggae",
           "Hugo & the Comets": "ambient", "A Band With A Very Long Name Indeed": "punk",
           "Motörhead": "hard rock", "Grace Adams": "electronic"}
LONG_ERROR = ("last.fm answered 500 Internal Server Error three times for artist.getTopTags "
              "(Ночные Тени); retrying at the next run")


def listening_years(engine: Engine) -> None:
    """Six years of alice's plays of ARTISTS, with each artist's genre tag."""
    rng = random.Random(12)
    start = 1_546_300_800  # 2019-01-01
    names = list(ARTISTS)
    plays = [Scrobble(start + rng.randrange(6 * 365 * 86_400), artist,
                      f"Song {rng.randrange(12)}", "Album")
             for artist in names for _ in range(10 + 12 * (len(names) - names.index(artist)))]
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "alice", with_ordinals(plays), "test")
        tracks.fold_new_scrobbles(conn)
        for artist, genre in ARTISTS.items():
            tags = [(genre, 100)]
            tag_store.save_answer(conn, artist, tag_store.OK, "artist", tags,
                                  RULES.artist_genres(artist, tags), 1)


def weak_suggestions(engine: Engine) -> None:
    """A much played track of an artist Plex lacks, whose suggestions are all unrelated."""
    with write(engine) as conn:
        scrobble_queries.insert_rows(conn, "bob", with_ordinals(
            [Scrobble(1_700_000_000 + n, "Les Lodanzel", "Wild Home Glass", "Silver")
             for n in range(36)]), "test")
        tracks.fold_new_scrobbles(conn)
        track_id = int(conn.exec_driver_sql("SELECT id FROM scrobbled_tracks WHERE title ="
                                            " 'Wild Home Glass'").scalar_one())
        keys = [int(k) for (k,) in conn.exec_driver_sql(
            "SELECT rating_key FROM library_tracks ORDER BY rating_key LIMIT 5")]
        matches.save_decisions(conn, [matches.Decision(
            track_id, "queued", None, None, "no artist in library", (),
            tuple(zip(keys, (61, 50, 48, 47, 45), strict=True)))], "auto")


def job_history(engine: Engine) -> None:
    runner = JobRunner(engine)
    runner.run("pull", lambda: {"added": 120}, "schedule")
    runner.run("match", lambda: {"matched": 40}, "after pull")
    runner.run("revert", lambda: {"mode": "dry-run", "to_add": 0, "to_remove": 12,
                                  "already_in_plex": 0}, "cli")

    def failing() -> dict[str, Any]:
        raise RuntimeError(LONG_ERROR)

    runner.run("tags", failing, "schedule")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A store like a real one, served with every job of the service and the Analytics page."""
    from tests.test_apply import TRACKS, applier, scrobble, setup

    tmp = tmp_path_factory.mktemp("site")
    engine = open_store(f"sqlite:///{tmp / 'store.db'}")
    plays = [scrobble(t, 1_700_000_000 + i * 1000 + n) for i, t in enumerate(TRACKS[:4])
             for n in range(3)]
    db = setup(tmp, engine, plays)
    JobRunner(engine).run("apply", lambda: applier(engine, db, tmp).run(force_window=True),
                          "schedule")
    build_store(engine, user="bob", key_offset=100_000)  # a queue, a hostile name
    weak_suggestions(engine)
    listening_years(engine)
    job_history(engine)
    pagestats.refresh(engine, ["alice", "bob"])
    now = time.time()
    upcoming = {"pull": now + 300, "match": now + 86_400, "library": now + 3_600,
                "plex-watch": now + 120, "tags": now + 3_600}
    settings = AnalyticsSettings("alice", ZoneInfo("Europe/Berlin"), "north", RULES)
    with Served(engine, users=("alice", "bob"), analytics=settings,
                jobs=("pull", "match", "library", "plex-watch", "tags", "apply"),
                window=(dt_time(3), dt_time(5)), on_demand=("match",), unlogged=("plex-watch",),
                next_runs=lambda: {k: _at(v) for k, v in upcoming.items()}) as served:
        yield served
    engine.dispose()


def _at(ts: float) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(ts).astimezone()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from tests.browsing import ARGS, CHROMIUM

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(params=list(DEVICES))
def device(request: pytest.FixtureRequest, browser: Any) -> Iterator[tuple[str, Any]]:
    context = browser.new_context(viewport=DEVICES[request.param], device_scale_factor=1)
    yield request.param, context.new_page()
    context.close()


def test_every_page_is_clean_and_fits(site: Served, device: tuple[str, Any]) -> None:
    name, page = device
    problems = watch(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}
    for title, path in PAGES.items():
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() == 1, title
        found[title] = problems[:] + layout_problems(page, name)
        problems.clear()
        shot = SHOTS / f"{title}-{name}.png"
        page.screenshot(path=str(shot), full_page=name == "desktop")
        assert shot.stat().st_size > 10_000
    bad = [f"{title}: {problem}" for title, listed in found.items() for problem in listed]
    assert not bad, "\n".join(bad)


def test_dashboard_cards_fill_their_rows(site: Served, device: tuple[str, Any]) -> None:
    _name, page = device
    page.goto(site.url)
    rows = rows_of(page, ".cards > .card")
    assert sum(rows) >= 8
    assert len(set(rows)) == 1, f"cards per row: {rows}"  # no card alone on the last row


def test_analytics_charts_sit_in_a_grid(site: Served, device: tuple[str, Any]) -> None:
    name, page = device
    page.goto(f"{site.url}/analytics")
    rows = rows_of(page, ".charts > .card")
    assert set(rows) == ({2} if name == "desktop" else {1}), rows
    page.locator("#genres summary").click()
    cells = page.locator("#genres table td.num").all_inner_texts()
    assert cells
    assert all(cell.endswith("%") and len(cell) <= 6 for cell in cells), cells


def test_the_queue_labels_plays_and_scores_and_hides_weak_suggestions(
        site: Served, device: tuple[str, Any]) -> None:
    _name, page = device
    page.goto(f"{site.url}/queue")
    weak = page.locator("article.qitem", has=page.locator(".q-title",
                                                          has_text="Wild Home Glass"))
    assert "36 plays" in weak.locator("header").inner_text()
    assert weak.locator(".suggestions li").count() == 0
    assert "no close candidate" in weak.inner_text().lower()
    strong = page.locator("article.qitem", has=page.locator(".q-title", has_text="Waterlo"))
    assert "score 95" in strong.locator(".suggestions li").first.inner_text()


def test_history_numbers_sit_under_their_headers(site: Served, browser: Any) -> None:
    context = browser.new_context(viewport=DEVICES["desktop"])
    page = context.new_page()
    page.goto(f"{site.url}/history")
    table = page.locator("table.runs")
    headers = table.locator("thead th").all()
    cells = table.locator("tbody tr").first.locator("td").all()
    assert len(headers) == len(cells)
    for th, td in zip(headers, cells, strict=True):  # numbers right-aligned under theirs
        aligned = [el.evaluate("el => getComputedStyle(el).textAlign") for el in (th, td)]
        assert aligned[0] == aligned[1], th.inner_text()
    assert "note" not in table.locator("thead").inner_text()
    context.close()


def test_numbers_are_labelled_on_a_phone(site: Served, browser: Any) -> None:
    context = browser.new_context(viewport=DEVICES["phone"])
    page = context.new_page()
    for path in ("/matches?status=all", "/history", "/library"):
        page.goto(f"{site.url}{path}")
        labels = page.eval_on_selector_all(
            "table.stack td.num", "tds => tds.map(td => getComputedStyle(td, '::before').content)")
        assert labels, path
        assert all(label not in ("none", "normal", '""') for label in labels), (path, labels)
    context.close()


def test_a_button_confirms_what_it_did(site: Served, device: tuple[str, Any]) -> None:
    _name, page = device
    page.goto(site.url)
    with page.expect_navigation():  # the dashboard reloads to show the job running...
        page.locator("button", has_text="Pull now").click()
    page.locator("#messages .flash", has_text="Started pull").wait_for()  # ...and says so
    assert "pull" in site.triggered


COVERED = """(t) => Array.from(document.querySelectorAll(
    "main button, main input, main a, main select")).filter((el) => {
      const r = el.getBoundingClientRect();
      return el.checkVisibility() && r.width > 0 && r.left < t.x + t.width &&
        r.right > t.x && r.top < t.y + t.height && r.bottom > t.y;
    }).map((el) => el.textContent || el.getAttribute("aria-label"))"""
PROBE = """([where, title]) => {  // scroll a button of `title`'s card to the screen's edge
  const card = Array.from(document.querySelectorAll("article.qitem"))
    .find((el) => el.querySelector(".q-title").textContent === title);
  const button = card.querySelector("button");
  const header = document.querySelector("header.top").getBoundingClientRect();
  const r = button.getBoundingClientRect();
  window.scrollBy(0, where === "bottom" ? r.bottom - innerHeight + 4 : r.top - header.bottom - 4);
}"""


def test_a_toast_never_covers_a_button(site: Served, device: tuple[str, Any]) -> None:
    name, page = device
    page.goto(f"{site.url}/queue")
    title = "Song A" if name == "desktop" else "Song B"
    card = page.locator("article.qitem", has=page.locator(".q-title", has_text=title))
    card.locator("button", has_text="Skip for now").click()
    toast = page.locator(".toast")
    toast.wait_for()
    assert toast.evaluate("el => getComputedStyle(el).pointerEvents") == "none"
    for where in ("bottom", "top"):  # whatever sits at either edge of the screen
        page.evaluate(PROBE, [where, "Wild Home Glass"])
        assert page.evaluate(COVERED, toast.bounding_box()) == [], where


def test_the_login_and_error_pages_are_clean_and_fit(site: Served, engine: Engine,
                                                     device: tuple[str, Any]) -> None:
    from daemon.web.auth import Protection
    from daemon.web.passwords import hash_password

    name, page = device
    problems = watch(page)
    page.goto(f"{site.url}/no-such-page")
    assert page.locator("h1").inner_text() == "404"
    problems.remove(f"HTTP 404: {site.url}/no-such-page")  # the page itself, as asked
    problems.remove("console: Failed to load resource: the server responded with a status "
                    "of 404 (NOT FOUND)")
    assert problems + layout_problems(page, name) == []
    with Served(engine, protection=Protection(password_hash=hash_password("pw"))) as guarded:
        page.goto(f"{guarded.url}/")
        page.locator("input[type=password]").wait_for()
        assert problems + layout_problems(page, name) == []
