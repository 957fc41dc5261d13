"""ListenBrainz as a live source beside last.fm: the API client and the pull job."""
