"""One exception hierarchy for plexfm. The CLI maps these to exit codes."""

from __future__ import annotations


class PlexfmError(Exception):
    """Base of every error plexfm raises on purpose; its message is one line for a person."""


class ConfigError(PlexfmError):
    """The configuration is unusable; the message names the key. Exit status 2."""

    MAX_LINE = 240

    def __init__(self, key: str, problem: str) -> None:
        self.key = _one_line(key, 80)
        self.problem = _one_line(problem, self.MAX_LINE - len(self.key))
        super().__init__(f"config: {self.key}: {self.problem}")


def _one_line(text: str, limit: int) -> str:
    """`text` on one line of printable characters, cut to `limit` with an ellipsis."""
    flat = "".join(c if c.isprintable() else " " for c in str(text)[: limit * 4])
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 1)] + "…"


class StoreError(PlexfmError):
    """Our own database could not be opened, migrated or written."""


class LastfmError(PlexfmError):
    """last.fm answered with an error, or could not be reached after every retry."""

    def __init__(
        self, message: str, *, code: int | None = None, status: int | None = None
    ) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


class LastfmFatalError(LastfmError):
    """An error retrying cannot fix: bad or suspended key, private profile, unknown user."""


class LastfmTransientError(LastfmError):
    """An error worth retrying: backend failure, rate limit, 5xx, timeout, malformed body."""


class ListenbrainzError(PlexfmError):
    """ListenBrainz answered with an error, or could not be reached after every retry."""


class ListenbrainzFatalError(ListenbrainzError):
    """An error retrying cannot fix: unknown user, rejected token, a request it refuses."""


class ListenbrainzTransientError(ListenbrainzError):
    """An error worth retrying: rate limited, 5xx, timeout, a body that is not the API's."""


class SyncIntegrityError(PlexfmError):
    """A window's pages kept failing to add up (total drifting, pages overlapping)."""


class ImportFileError(PlexfmError):
    """An export file could not be read at all (unknown format, unreadable archive)."""


class PlexError(PlexfmError):
    """Plex's database or server could not be used: missing file, not a Plex DB, no such
    section, locked, server unreachable, token rejected. The message never contains the token."""


class PlexWriteError(PlexfmError):
    """Plex's database could not be written (locked, missing, not Plex, unsafe to write)."""


class JobCancelledError(PlexfmError):
    """The service is stopping; the job stopped at a safe point (what was committed stays)."""
