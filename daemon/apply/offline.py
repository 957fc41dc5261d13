"""Offline mode's part of a window: Plex stopped before the write, started again after.

With a Plex server to ask (`PlexServerProbe`) and Plex answering, Plex is stopped with the
configured command, but never while someone is playing: the window waits and looks again
until it would close. Without a stop command a running Plex skips the window with a reason.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from daemon.apply.window import Window, window_end
from daemon.errors import PlexError
from daemon.plex.server import PlexServerProbe
from daemon.stopping import StopToken

log = logging.getLogger(__name__)


class PlexStopper:
    """Stops Plex for the window (`stop`) and starts it again (`start`)."""

    def __init__(self, probe: PlexServerProbe | None, *, stop_command: str, start_command: str,
                 window: Window, session_poll_seconds: float, stop_timeout: float,
                 run_command: Callable[[list[str]], int], stop: StopToken,
                 now: Callable[[], datetime]) -> None:
        self._probe = probe
        self.stop_command = stop_command
        self._start_command = start_command
        self._window = window
        self._poll = session_poll_seconds
        self._timeout = stop_timeout
        self._run_command = run_command
        self._stop = stop
        self._now = now

    def stop(self) -> str | None:
        """Stop Plex for the window; a reason when the window has to be skipped."""
        probe = self._probe
        if probe is None or not probe.reachable():
            return None  # not running, or not configured to tell (the writer still locks)
        if not self.stop_command:
            return "Plex is running and apply.stop_command is not set (offline mode)"
        closes = window_end(self._window, self._now())
        while True:
            try:
                playing = probe.active_sessions()
            except PlexError as exc:
                return f"cannot tell whether someone is playing: {exc}"
            if not playing:
                break
            if self._now() + timedelta(seconds=self._poll) >= closes:
                return f"someone was playing until the window closed ({playing} stream(s))"
            log.info("apply waits: %s stream(s) playing", playing)
            self._stop.sleep(self._poll)
        log.info("stopping Plex for the window: %s", self.stop_command)
        if self._run_command(shlex.split(self.stop_command)) != 0:
            return f"apply.stop_command failed: {self.stop_command}"
        deadline = time.monotonic() + self._timeout
        while probe.reachable():
            if time.monotonic() > deadline:
                self.start()
                return f"Plex did not stop within {self._timeout:g} s"
            self._stop.sleep(0.5)
        return None

    def start(self) -> None:
        """Start Plex again (when a start command is set)."""
        if not self._start_command:
            return
        log.info("starting Plex: %s", self._start_command)
        if self._run_command(shlex.split(self._start_command)) != 0:
            log.error("apply.start_command failed: %s (start Plex by hand)",
                      self._start_command)


def run_command(argv: list[str]) -> int:
    """Run a configured command; its exit status (1 when it could not run or timed out)."""
    try:
        return subprocess.run(argv, check=False, timeout=300).returncode  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("command %s failed: %s", argv[0] if argv else "", exc)
        return 1
