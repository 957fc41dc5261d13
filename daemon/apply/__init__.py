"""Writing matched plays into Plex: the plan (pure), the maintenance window, and the apply job."""
