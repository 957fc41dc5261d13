"""Shared fixtures: a real SQLite store file per test, fixture paths."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from daemon.store.engine import open_store
from tests.fakes.plex_db import PlexDb

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = open_store(store_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_stale_log_handler() -> Iterator[None]:
    """A command run in-process (`cli.main`) installs plexfm's stderr handler on the root
    logger, holding that test's captured stderr; taken off after the test, so later tests
    never log to a closed stream ("--- Logging error ---" in every failure report)."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:  # pytest's own handlers are subclasses
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def db_copy(plex_db: PlexDb, tmp_path: Path) -> Path:
    """A copy of the module's `plex_db` fixture, for tests that change the file."""
    path = tmp_path / "library.db"
    shutil.copyfile(plex_db.path, path)
    return path


@pytest.fixture
def berlin_time() -> Iterator[None]:
    """Local time with an offset, so legacy 'local time' text is not UTC by accident."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()
