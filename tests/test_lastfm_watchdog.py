"""The request watchdog: every watched request is cut at its own deadline, whatever the order
in which requests with other deadlines came and went (it sleeps until the earliest one)."""

from __future__ import annotations

import socket
import threading
import time

from daemon.lastfm.transport import Watchdog


class Blocked:
    """A read blocked under the watchdog in its own thread, until the watchdog cuts it."""

    def __init__(self, dog: Watchdog, seconds: float) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.attached = threading.Event()
        self.elapsed: float | None = None
        self.expired = False
        self._thread = threading.Thread(target=self._read, args=(dog, seconds), daemon=True)
        self._thread.start()
        assert self.attached.wait(5)

    def _read(self, dog: Watchdog, seconds: float) -> None:
        with dog.guard(seconds) as watch:
            dog.attach(self.ours)
            started = time.monotonic()
            self.attached.set()
            self.ours.recv(1)  # nothing is ever sent: only the cut ends this
            self.elapsed = time.monotonic() - started
            self.expired = watch.expired

    def result(self, timeout: float) -> float:
        self._thread.join(timeout)
        assert self.elapsed is not None, "the read was not cut"
        assert self.expired
        self.ours.close()
        self.theirs.close()
        return self.elapsed


def test_a_sooner_deadline_after_a_later_one_is_kept() -> None:
    dog = Watchdog()
    late = Blocked(dog, 3.0)  # the watchdog now sleeps until this one's deadline
    soon = Blocked(dog, 0.2)
    assert soon.result(timeout=2.5) < 1.5
    assert 2.0 < late.result(timeout=5) < 4.5


def test_a_later_deadline_after_a_sooner_one_is_kept() -> None:
    dog = Watchdog()
    soon = Blocked(dog, 0.2)
    late = Blocked(dog, 1.0)  # not woken for it: the sooner deadline comes first
    assert soon.result(timeout=2.5) < 0.9
    assert 0.8 < late.result(timeout=5) < 2.5
