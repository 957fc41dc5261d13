"""Export files into the store: one reader per format, and the import job."""
