"""The jobs that run matching against the store: library refresh, match, and its worker process."""
