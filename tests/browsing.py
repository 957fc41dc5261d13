"""Driving the status page in Debian's Chromium (through Playwright): the served app, a page
that records every console error, failed request and CSP violation, and the layout facts the
browser tests check (nothing sideways, nothing clipped, no tiny text, charts fill their card).

Screenshots go to tests/artifacts/ (ignored by git); `make screenshots` points
PLEXFM_SCREENSHOTS at docs/screenshots/ to regenerate the tracked ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from daemon.service.health import Health
from daemon.web import WebDeps, create_app
from daemon.web.server import WebServer
from tests.test_web import API_KEY, PLEX_TOKEN

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
ROOT = Path(__file__).resolve().parent.parent


def screenshot_dir(environ: Mapping[str, str]) -> Path:
    """Where the browser tests save screenshots: tests/artifacts/ (ignored by git), or
    $PLEXFM_SCREENSHOTS (`make screenshots` sets it to docs/screenshots/)."""
    return Path(environ.get("PLEXFM_SCREENSHOTS") or ROOT / "tests" / "artifacts")


SHOTS = screenshot_dir(os.environ)
DEVICES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                       "(apt-get install chromium); CI installs it in .ci/run"),
]


def until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached before the deadline: {what}")
        time.sleep(0.02)


class Served:
    """The real app on a loopback port, with the calls it made to the scheduler."""

    def __init__(self, engine: Engine, **deps: Any) -> None:
        self.triggered: list[str] = []

        def trigger(name: str) -> bool:
            self.triggered.append(name)
            return True

        settings: dict[str, Any] = {"engine": engine, "health": lambda: Health(True),
                                    "trigger": trigger, "jobs": ("pull", "match", "apply"),
                                    "users": ("alice",), "secrets": (API_KEY, PLEX_TOKEN)}
        settings.update(deps)
        self.server = WebServer(create_app(WebDeps(**settings)), "127.0.0.1", 0, threads=4)
        self.url = self.server.url

    def __enter__(self) -> Served:
        self.server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()


def watch(page: Any) -> list[str]:
    """Everything that went wrong on `page` from now on: console errors (CSP violations are
    console errors), uncaught exceptions, and answers of 400 or more (a missing favicon)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"exception: {exc}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    return problems


LAYOUT = """(minFont) => {
  const problems = [];
  const describe = (el) => {
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    return `${el.tagName.toLowerCase()}.${el.getAttribute("class") || ""} "${text}"`;
  };
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    problems.push(`the page scrolls sideways: ${root.scrollWidth} > ${root.clientWidth}`);
  }
  const skip = new Set(["INPUT", "SELECT", "TEXTAREA", "METER", "OPTION"]);
  for (const el of document.querySelectorAll("body *")) {
    if (el instanceof SVGElement || skip.has(el.tagName) || !el.checkVisibility()) continue;
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`clipped or spilling (${el.scrollWidth} > ${el.clientWidth}): ${describe(el)}`);
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || !el.checkVisibility()) continue;
    if (el.closest("title, desc, style, script")) continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement) size *= el.getScreenCTM().a;
    if (size < minFont - 0.01) problems.push(`${size.toFixed(1)} px text: ${describe(el)}`);
  }
  for (const svg of document.querySelectorAll("svg[viewBox]")) {
    if (!svg.checkVisibility()) continue;
    const box = svg.viewBox.baseVal;
    for (const text of svg.querySelectorAll("text")) {
      const b = text.getBBox();
      if (b.x < box.x - 0.5 || b.x + b.width > box.x + box.width + 0.5 ||
          b.y < box.y - 0.5 || b.y + b.height > box.y + box.height + 0.5) {
        const at = [b.x, b.y, b.width, b.height].map((v) => v.toFixed(1)).join(" ");
        const size = `${box.width}x${box.height}`;
        problems.push(`chart text at ${at}, outside its chart ${size}: ${describe(text)}`);
      }
    }
    const card = svg.closest(".card");
    if (card) {
      const style = getComputedStyle(card);
      const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
      const inner = card.clientWidth - padding;
      const width = svg.getBoundingClientRect().width;
      if (width < inner * 0.95) {
        const share = Math.round(100 * width / inner);
        problems.push(`chart fills ${share}% of its card: ${describe(card)}`);
      }
    }
  }
  return problems;
}"""


def layout_problems(page: Any, device: str) -> list[str]:
    """Layout facts of the page as loaded: nothing wider than the screen, no clipped or
    spilling element, no text under 12 px on a phone (10 px on a desktop), chart text inside
    its chart and every chart at least 95% as wide as its card."""
    found: list[str] = page.evaluate(LAYOUT, 12 if device == "phone" else 10)
    return found


def rows_of(page: Any, selector: str) -> list[int]:
    """How many of the elements matching `selector` sit on each visual row (by their top)."""
    tops: list[float] = page.eval_on_selector_all(
        selector, "els => els.map(el => Math.round(el.getBoundingClientRect().top))")
    rows: dict[float, int] = {}
    for top in tops:
        rows[top] = rows.get(top, 0) + 1
    return [rows[top] for top in sorted(rows)]
