"""plexfm: bring a whole last.fm listening history into a Plex music library."""

__version__ = "0.1.0"
