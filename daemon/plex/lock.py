"""A cross-process exclusive lock on a file (``fcntl.flock``), so one plexfm applies at a time.

``flock`` locks belong to the open file description: they are released when the holder closes
the file or dies (also on SIGKILL), so a crashed apply never leaves a stale lock behind. The
lock file itself is left in place (deleting it would race with a waiting process); it holds
the pid of the last holder, for people.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from daemon.errors import PlexWriteError

log = logging.getLogger(__name__)


class FileLock:
    """Exclusive lock on ``path``, waiting up to ``timeout`` seconds; a context manager.

    Raises `PlexWriteError` ("another plexfm is applying (lock PATH held)") on timeout.
    ``clock`` and ``sleep`` are injectable for tests; ``poll`` is the retry interval.
    """

    def __init__(self, path: str | Path, *, timeout: float = 0.0, poll: float = 0.05,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll
        self._clock = clock
        self._sleep = sleep
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise `PlexWriteError` once ``timeout`` has passed."""
        if self._fd is not None:
            raise RuntimeError(f"lock {self.path} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = self._clock() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if self._clock() >= deadline:
                    os.close(fd)
                    raise PlexWriteError(
                        f"another plexfm is applying (lock {self.path} held)") from None
                self._sleep(self.poll)
            except BaseException:
                os.close(fd)
                raise
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        log.debug("Took lock %s", self.path)

    def release(self) -> None:
        """Release the lock (closing the file releases it); a no-op when not held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
            log.debug("Released lock %s", self.path)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
