"""Login throttling: failed password attempts cost time, per client address and overall.

Every attempt is counted as a failure when it starts (so parallel requests cannot slip past
the count) and forgiven when the password was right. Per client address, the first
FREE_FAILURES failures are free; after that each attempt must wait 1 s, 2 s, 4 s... (doubling
per further failure, at most MAX_DELAY) after the previous one. Overall, once GLOBAL_LIMIT
failures happened within GLOBAL_WINDOW seconds (from any addresses), every attempt waits until
the oldest of them is older than that. A waiting attempt is answered 429 with Retry-After and
the password is not even checked. State is in memory (a restart forgets it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

FREE_FAILURES = 5
MAX_DELAY = 900  # seconds: the longest wait per address
GLOBAL_LIMIT = 50  # failures from all addresses...
GLOBAL_WINDOW = 900  # ...within this many seconds
FORGET_AFTER = 86_400  # an address's failures are forgotten after a quiet day
MAX_CLIENTS = 10_000  # addresses remembered (the oldest are dropped first)


@dataclass
class _Client:
    failures: int
    last: float


class LoginThrottle:
    """Failed-login bookkeeping for one web application (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._recent: deque[float] = deque()  # when the failures within GLOBAL_WINDOW began

    def _wait(self, client: str, now: float) -> float:
        while self._recent and self._recent[0] <= now - GLOBAL_WINDOW:
            self._recent.popleft()
        wait = 0.0
        if len(self._recent) >= GLOBAL_LIMIT:
            wait = self._recent[0] + GLOBAL_WINDOW - now
        record = self._clients.get(client)
        if record is not None and now - record.last >= FORGET_AFTER:
            del self._clients[client]
        elif record is not None and record.failures >= FREE_FAILURES:
            delay = min(2.0 ** (record.failures - FREE_FAILURES), MAX_DELAY)
            wait = max(wait, record.last + delay - now)
        return wait

    def attempt(self, client: str) -> int:
        """Seconds `client` must wait before trying (0: go ahead, and the attempt is counted as
        a failure until `succeeded` forgives it)."""
        with self._lock:
            now = self._clock()
            wait = self._wait(client, now)
            if wait > 0:
                return max(1, math.ceil(wait))
            record = self._clients.pop(client, None) or _Client(0, now)
            record.failures += 1
            record.last = now
            self._clients[client] = record  # most recent last
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
            self._recent.append(now)
            if record.failures == FREE_FAILURES:
                log.warning("status page: %s failed logins from %s: further attempts are "
                            "slowed down", FREE_FAILURES, client)
            return 0

    def succeeded(self, client: str) -> None:
        """The attempt `client` just made was right: forget its failures (and that attempt's
        place in the overall count)."""
        with self._lock:
            record = self._clients.pop(client, None)
            if record is not None:
                with contextlib.suppress(ValueError):  # already out of the window
                    self._recent.remove(record.last)
