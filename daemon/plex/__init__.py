"""Plex: read-only library view (library*.py) and the only writer of Plex's database (writer.py).

`LibrarySource` is what jobs use to mirror the music library; `DatabaseLibrary` (the DB file,
read-only) and `HttpLibrary` (the server through plexapi) give identical `LibraryTrack` lists.
"""

from daemon.plex.library import LibrarySource, LibraryTrack
from daemon.plex.library_db import DatabaseLibrary
from daemon.plex.library_http import HttpLibrary

__all__ = ["DatabaseLibrary", "HttpLibrary", "LibrarySource", "LibraryTrack"]
