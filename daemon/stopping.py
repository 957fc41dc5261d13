"""A stop token shared by the service and its jobs, for a graceful and prompt shutdown.

Jobs check it at safe points (between pages, between windows, before a write) and use its
`sleep` for backoff, so SIGTERM never waits out a 60-second retry delay.

Signal handlers call `stop_from_signal`, which takes no lock: a handler runs in the main thread
between two bytecodes, possibly while that thread is inside this token's own `wait` holding the
event's (non-reentrant) lock, where `Event.set()` would deadlock. The main thread waits with a
timeout (`wait(timeout)`) and turns the signal into a full stop there; `stopped` and `check()`
see the signal at once.
"""

from __future__ import annotations

import threading

from daemon.errors import JobCancelledError


class StopToken:
    """Set once when the service begins to stop; never cleared."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._signal: int | None = None

    @property
    def stopped(self) -> bool:
        return self._signal is not None or self._event.is_set()

    @property
    def signal(self) -> int | None:
        """The signal that asked for the stop, if one did."""
        return self._signal

    def stop(self) -> None:
        self._event.set()

    def stop_from_signal(self, signum: int) -> None:
        """The only thing a signal handler does: one attribute store, no lock."""
        self._signal = signum

    def sleep(self, seconds: float) -> None:
        """Sleep, but raise JobCancelledError at once when the service stops meanwhile."""
        if self.stopped or self._event.wait(max(0.0, seconds)):
            raise JobCancelledError("the service is stopping")

    def check(self) -> None:
        """Raise JobCancelledError when the service is stopping."""
        if self.stopped:
            raise JobCancelledError("the service is stopping")

    def wait(self, timeout: float) -> bool:
        """Block until stopped or `timeout` seconds; True when stopped. A stop asked by a
        signal becomes a full stop here (waking every thread sleeping on the token)."""
        if self._signal is not None:
            self._event.set()
        return self._event.wait(timeout)
