"""One module per export format, each defining `FORMAT` (found by `registry`, never imported
by name: adding a format is adding a module here)."""
