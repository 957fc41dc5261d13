"""Python's cycle collector paused while a bulk job runs, and given back after.

A job that makes hundreds of thousands of Python objects in bursts (the match job's names,
candidates and decisions; the apply's rows to remove, guids and ledger fingerprints) has the
collector run full passes over the whole heap again and again, for nothing: its objects are
frames, tuples and strings, not cycles. Paused, the match job saves ~0.6 s of CPU, the revert
of 100,000 plays ~0.4 s. Jobs may overlap in one process (the service runs the apply and the
pull on scheduler threads): the collector is paused by the first and given back by the last,
and only if it was on when the first began (a caller's own `gc.disable` is left alone). Cycles
made meanwhile are collected once it is back on.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pauses:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._give_back = False

    def enter(self) -> None:
        with self._lock:
            if not self._holders:
                self._give_back = gc.isenabled()
                gc.disable()
            self._holders += 1

    def leave(self) -> None:
        with self._lock:
            self._holders -= 1
            if not self._holders and self._give_back:
                gc.enable()


_PAUSES = _Pauses()


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """The collector off for the block (and for any other job's overlapping block)."""
    _PAUSES.enter()
    try:
        yield
    finally:
        _PAUSES.leave()
