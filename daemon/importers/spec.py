"""What an import format is (`Format`), and what detection sees of a file (`Head`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from daemon.importers.report import ImportReport
from daemon.importers.text import BOM, REPAIR
from daemon.scrobble import Scrobble

Reader = Callable[[Path, ImportReport], Iterator[Scrobble]]


@dataclass(frozen=True)
class Head:
    """What detection sees of a file: its name, first bytes and, for a zip, member names."""

    name: str
    data: bytes
    zip_names: tuple[str, ...] | None = None

    @cached_property
    def text(self) -> str:
        """The first bytes as text (BOM and leading blank space dropped)."""
        return self.data.removeprefix(BOM).decode("utf-8", REPAIR).lstrip()

    @cached_property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].rstrip("\r")


@dataclass(frozen=True)
class Format:
    """One export format: how to recognise it and how to read it."""

    name: str
    what: str
    read: Reader
    sniff: Callable[[Head], bool]
    order: int = 50
    file_names: str = ""
    """A pattern of file names, for when the content says nothing (an empty file)."""
    archive: str = ""
    """For a zip format: the members it reads (also said when a zip holds none)."""
    plain: bool = True
    """Whether plain (not zip) files of this format exist."""
    precision: int = 1
    """Seconds per timestamp step: 60 when the format only knows the minute."""
