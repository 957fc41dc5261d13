"""A stop token shared by the service and its jobs, for a graceful and prompt shutdown.

Jobs check it at safe points (between pages, between windows, before a write) and use its
`sleep` for backoff, so SIGTERM never waits out a 60-second retry delay.
"""

from __future__ import annotations

import threading

from daemon.errors import JobCancelledError


class StopToken:
    """Set once when the service begins to stop; never cleared."""

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()

    def stop(self) -> None:
        self._event.set()

    def sleep(self, seconds: float) -> None:
        """Sleep, but raise JobCancelledError at once when the service stops meanwhile."""
        if self._event.wait(max(0.0, seconds)):
            raise JobCancelledError("the service is stopping")

    def check(self) -> None:
        """Raise JobCancelledError when the service is stopping."""
        if self._event.is_set():
            raise JobCancelledError("the service is stopping")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped or `timeout`; True when stopped."""
        return self._event.wait(timeout)
