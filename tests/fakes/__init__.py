"""Loopback fakes of the two upstream services (last.fm and Plex), for tests, bench and demo."""
