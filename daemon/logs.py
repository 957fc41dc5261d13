"""Logging setup: one stderr handler, one line per event, secrets redacted everywhere.

Under systemd (JOURNAL_STREAM set) the timestamp is left out because journald adds its own.
The wording helpers of log lines and command output live here too: `plural` ("1 track",
"2,045 tracks") and `local_time` (an instant as ISO local time with its UTC offset, never a
raw Unix time).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo

REDACTED = "********"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("urllib3", "apscheduler.executors", "apscheduler.scheduler", "waitress.queue")


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the word in the plural unless count is 1: "1 track", "2,045
    tracks"; `many` is the plural when it is not word + "s" ("1 match", "2 matches")."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def local_time(uts: float, zone: tzinfo | None = None) -> str:
    """A Unix time as ISO 8601 local time with its offset: "2026-12-05 11:36:34+01:00"
    (`zone`: the system's local zone when None)."""
    moment = datetime.fromtimestamp(uts, UTC).astimezone(zone)
    return moment.isoformat(sep=" ", timespec="seconds")


class Redactor:
    """Replaces every known secret value in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """Rewrites a record whose message or traceback contains a secret."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        return True


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> Redactor:
    """Install the single stderr handler; return the redactor for other outputs to use."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(JOURNAL_FORMAT if os.environ.get("JOURNAL_STREAM") else FORMAT)
    )
    handler.addFilter(RedactingFilter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    return redact
