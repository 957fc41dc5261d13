"""Limits every reader shares, and the one way an export file is opened.

An export file comes from anywhere: a line, a field or a JSON element may be huge, an archive
may unpack to far more than it weighs, a "file" may be a FIFO or a device. These caps keep a
bad file from filling the store (a 200 MB artist name once made /history 210 MB), memory or
time; what is over a cap is skipped and counted like any other malformed row.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from daemon.errors import ImportFileError

MAX_LINE_BYTES = 1 << 20
"""A longer line is skipped (read in pieces, never held whole)."""
MAX_FIELD_CHARS = 2000
"""A longer artist, title, album or MBID makes its row a bad row."""
MAX_ELEMENT_BYTES = 16 << 20
"""A JSON element (a listen, a play, a page of 1000 tracks) larger than this is skipped."""
MAX_WHOLE_JSON_BYTES = 64 << 20
"""A JSON array this small is split at once (fast path); larger ones are streamed."""
MAX_UNZIPPED_BYTES = 4 << 30
"""The members an archive's reader would read may unpack to at most this much, together."""
MAX_PROBLEMS = 1000
"""Problems kept in a report; `ImportReport.skipped_count` stays exact beyond it."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a directory"
    if stat.S_ISFIFO(mode):
        return "it is a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device"
    if stat.S_ISSOCK(mode):
        return "it is a socket"
    return "it is not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading, refusing anything but a regular file before reading a byte.

    The file is opened non-blocking, so opening a FIFO returns at once instead of waiting for
    a writer; its type is then checked on the open descriptor (no race with a rename).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ImportFileError(f"cannot read {path}: {_kind(mode)}, not an export file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_size(path: Path) -> int:
    """The size of a regular file (0 when it cannot be told)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
