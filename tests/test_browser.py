"""The status page in real Chromium (Debian's package, driven by Playwright), served by waitress.

Queue items are resolved through the UI and checked in the store; a match is removed and the
ledger plans the revert; hostile track names and CSRF are tried in the browser. Every page at
both sizes, with screenshots: tests/test_browser_pages.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.service.runs import JobRunner
from daemon.store import pagestats
from daemon.store.engine import open_store
from tests.browsing import ARGS, CHROMIUM, Served, needs_chromium, until
from tests.test_web import API_KEY, PLEX_TOKEN, XSS_ARTIST, XSS_TITLE, build_store, status_of

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def served(engine: Engine) -> Iterator[tuple[Served, dict[str, int]]]:
    ids = build_store(engine)
    with Served(engine) as server:
        yield server, ids


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    yield opened
    context.close()
    assert dialogs == [], f"a script ran: {dialogs}"


def item(page: Any, title: str) -> Any:
    return page.locator("article.qitem", has=page.locator(".q-title", has_text=title))


def test_accept_a_suggestion_with_one_click(served: tuple[Served, dict[str, int]], page: Any,
                                            engine: Engine) -> None:
    server, ids = served
    page.goto(f"{server.url}/queue")
    row = item(page, "Waterlo")
    row.locator("button", has_text="Accept").first.click()
    until(lambda: status_of(engine, ids["Waterlo"]) == ("manual", 201), what="accepted")
    page.locator(".toast", has_text="Matched").wait_for()
    assert row.count() == 0  # gone from the queue without a reload


def test_search_the_library_as_you_type_and_pick(served: tuple[Served, dict[str, int]],
                                                 page: Any, engine: Engine) -> None:
    server, ids = served
    page.goto(f"{server.url}/queue")
    row = item(page, "Song A")
    row.locator("input[data-live-search]").press_sequentially("hyperb", delay=20)
    result = row.locator(".results li", has_text="Hyperballad")
    result.wait_for()
    result.locator("button", has_text="Use this").click()
    until(lambda: status_of(engine, ids["Song A"]) == ("manual", 302), what="picked")


def test_not_in_library_skip_and_keyboard_shortcut(served: tuple[Served, dict[str, int]],
                                                   page: Any, engine: Engine) -> None:
    server, ids = served
    page.goto(f"{server.url}/queue")
    item(page, "Song B").locator("button", has_text="Not in my library").click()
    until(lambda: status_of(engine, ids["Song B"]) == ("not_in_library", None), what="n-i-l")
    page.reload()
    page.keyboard.press("j")  # selects the first (most played) item: "Let It Be - Live"
    assert "Let It Be - Live" in page.locator("article.qitem.selected").inner_text()
    page.keyboard.press("1")  # accepts its first suggestion
    until(lambda: status_of(engine, ids["Let It Be - Live"]) == ("manual", 104), what="key 1")
    selection = page.locator("article.qitem.selected", has_not_text="Let It Be - Live")
    selection.wait_for()  # the decided item left, the next one is selected
    selected = selection.inner_text()
    page.keyboard.press("s")  # skips the next one
    skipped = ids["Waterlo"] if "Waterlo" in selected else ids["Joga"]

    def skips() -> int:  # a new connection each time: a read transaction sees one snapshot
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM queue_skips WHERE track_id"
                                            " = ?", (skipped,)).scalar_one())

    until(lambda: skips() == 1, what="skip")
    assert status_of(engine, skipped) == ("queued", None)


def test_bulk_accept_above_a_score(served: tuple[Served, dict[str, int]], page: Any,
                                   engine: Engine) -> None:
    server, ids = served
    page.goto(f"{server.url}/queue")
    page.locator("summary", has_text="bulk actions").click()
    score = page.locator("#bulk-accept input[name=min_score]")
    score.fill("85")
    page.locator("#bulk-preview", has_text="Would accept 3 tracks (3 close title)").wait_for()
    assert "one by one: 1 different version" in page.locator("#bulk-preview").inner_text()
    with page.expect_navigation():  # the page reloads itself after a bulk action
        page.locator("#bulk-accept button").click()
    until(lambda: status_of(engine, ids["Joga"]) == ("manual", 301), what="bulk accept")
    assert status_of(engine, ids["Waterlo"]) == ("manual", 201)
    assert status_of(engine, ids[XSS_TITLE]) == ("manual", 401)
    assert status_of(engine, ids["Song A"]) == ("queued", None)  # no suggestion at all
    assert status_of(engine, ids["Let It Be - Live"]) == ("queued", None)  # another recording
    page.locator("summary", has_text="bulk actions").click()
    page.locator("input[name=artist][required]").fill("Unknown Band")
    page.locator("button", has_text="Not in my library").last.click()
    until(lambda: status_of(engine, ids["Song B"]) == ("not_in_library", None), what="artist")


def test_hostile_names_stay_text(served: tuple[Served, dict[str, int]], page: Any) -> None:
    server, ids = served
    page.goto(f"{server.url}/queue")
    row = item(page, XSS_TITLE)
    assert row.locator(".q-title").inner_text() == XSS_TITLE
    assert XSS_ARTIST in row.inner_text()
    row.locator("input[data-live-search]").fill("bold")
    row.locator(".results .t-title", has_text="onerror").wait_for()
    assert row.locator(".results .t-title").first.inner_text() == XSS_TITLE
    for path in ["/queue", "/matches?status=all", "/library", "/history",
                 f"/queue?search_for={ids[XSS_TITLE]}&lq=bold"]:
        page.goto(f"{server.url}{path}")
        assert page.locator("img").count() == 0, path
        assert page.locator("script:not([src])").count() == 0, path
        assert API_KEY not in page.content()
        assert PLEX_TOKEN not in page.content()


def test_csrf_in_the_browser(served: tuple[Served, dict[str, int]], page: Any,
                             engine: Engine) -> None:
    server, ids = served
    page.goto(f"{server.url}/queue")
    url = f"/api/tracks/{ids['Waterlo']}/not-in-library"
    statuses = page.evaluate("""async (url) => {
        const plain = await fetch(url, {method: "POST"});
        const forged = await fetch(url, {method: "POST", headers: {"X-CSRF-Token": "forged"}});
        return [plain.status, forged.status];
    }""", url)
    assert statuses == [400, 403]
    # another site's form posting to the page: no token, and no cookie (SameSite=Strict)
    page.goto("about:blank")
    page.set_content(f'<form method="post" action="{server.url}{url}"><button>go</button>'
                     "</form>")
    page.locator("button").click()
    page.wait_for_load_state()
    assert "400" in page.title() or "CSRF" in page.content()
    assert status_of(engine, ids["Waterlo"]) == ("queued", None)


@pytest.fixture
def applied(tmp_path: Path) -> Iterator[tuple[Engine, Any, list[Any]]]:
    """A store whose matched plays were applied to a fixture Plex database."""
    from tests.test_apply import TRACKS, applier, scrobble, setup

    engine = open_store(f"sqlite:///{tmp_path / 'applied.db'}")
    plays = [scrobble(t, 1_700_000_000 + i * 1000 + n) for i, t in enumerate(TRACKS[:4])
             for n in range(3)]
    db = setup(tmp_path, engine, plays)
    run = applier(engine, db, tmp_path)
    result = JobRunner(engine).run("apply", lambda: run.run(force_window=True), "schedule")
    assert result.counts["added"] == len(plays)  # recorded as the service records it
    pagestats.refresh(engine, ["alice"])
    yield engine, run, TRACKS[:4]
    engine.dispose()


def test_removing_and_changing_a_match_plans_the_revert(applied: tuple[Engine, Any, list[Any]],
                                                        page: Any) -> None:
    engine, run, _tracks = applied
    assert run.run(dry_run=True)["to_remove"] == 0
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT t.id, m.rating_key FROM scrobbled_tracks t JOIN matches m ON"
            " m.track_id = t.id WHERE m.status = 'auto' ORDER BY t.id").all()
        assert len(rows) >= 3
        (first, _k1), (second, _k2), (_third, other_key) = rows[:3]
        target = str(conn.exec_driver_sql("SELECT title FROM library_tracks WHERE rating_key"
                                          " = ?", (other_key,)).scalar_one())
    with Served(engine) as server:
        page.goto(f"{server.url}/matches")
        row = page.locator(f"tr[data-track-id='{first}']")
        assert row.locator("td.num").last.inner_text() == "3"  # plays written to Plex
        with page.expect_navigation():  # the page reloads itself to show the change...
            row.locator("button", has_text="Remove match").click()
        page.locator("#messages .flash", has_text="queue").wait_for()  # ...and says so
        assert status_of(engine, first) == ("queued", None)
        assert run.run(dry_run=True)["to_remove"] == 3  # the next window reverts them
        row = page.locator(f"tr[data-track-id='{second}']")
        row.locator("input[data-live-search]").fill(target[:20])
        with page.expect_navigation():
            row.locator(".results li", has_text=target).first.locator("button").click()
        page.locator("#messages .flash").wait_for()
        assert status_of(engine, second) == ("manual", other_key)
    plan = run.run(dry_run=True)
    assert plan["to_remove"] == 6  # both tracks' written plays come out...
    assert plan["to_add"] == 3  # ...and the changed track's go to its new library track
