"""Export files into the store: one reader per format (`formats/`, found by `registry`), the
limits and field checks they share, and the import job (`job`). See docs/imports.md."""
