"""The process environment as a CLI test wants it: no PLEXFM_ variable it did not set."""

from __future__ import annotations

import os

import pytest


def plexfm_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every PLEXFM_ variable of the test's environment (given back after the test)."""
    for name in list(os.environ):
        if name.startswith("PLEXFM_"):
            monkeypatch.delenv(name)
