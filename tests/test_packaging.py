"""The project's own files: packaging metadata a current setuptools accepts without a warning,
and a test suite that leaves tracked files alone (screenshots go to an ignored folder; only
`make screenshots` rewrites docs/screenshots/)."""

from __future__ import annotations

import re
import tomllib

from tests.browsing import ROOT, screenshot_dir


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"  # a table is deprecated (setuptools 77)
    (setuptools,) = [r for r in project["build-system"]["requires"] if "setuptools" in r]
    found = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert found is not None
    assert int(found[1]) >= 77  # the first setuptools that accepts the SPDX string


def test_tests_save_screenshots_to_an_ignored_folder() -> None:
    default = screenshot_dir({})
    ignored = [line.strip().strip("/") for line in
               (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()]
    assert default.relative_to(ROOT).as_posix() in ignored
    assert screenshot_dir({"PLEXFM_SCREENSHOTS": "/x"}).as_posix() == "/x"


def test_make_screenshots_regenerates_the_tracked_ones() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = makefile[makefile.index("\nscreenshots:"):].split("\n\n")[0]
    assert "PLEXFM_SCREENSHOTS=$(CURDIR)/docs/screenshots" in target
    assert "tests/test_browser_pages.py" in target
