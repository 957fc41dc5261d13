"""A thread-safe request pacer shared by every caller of one API key.

Requests are spaced at 1/rate seconds no matter how many threads ask, so several requests can
be in flight (reaching the rate despite round-trip latency) without ever exceeding it. A rate
limit answer from the server pushes every caller back at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Spacing requests exactly 1/rate apart puts rate+1 starts within a closed second whenever
# scheduling jitter shortens one gap, and a server counting a sliding second answers error 29.
# A 2% wider gap keeps every second's count at `rate` for gaps jittered by up to ~20 ms at 1/s.
SAFETY_MARGIN = 0.02

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Pacer:
    """Hands out start times at most `rate` per second; `wait()` blocks until yours."""

    def __init__(
        self, rate: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = (1.0 + SAFETY_MARGIN) / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()

    def wait(self) -> None:
        """Block until this caller may send its request."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            self._sleep(delay)

    def hold_off(self, seconds: float) -> None:
        """Let nobody start a request for `seconds` (the server said we went too fast)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)
