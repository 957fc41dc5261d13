"""The long-running service: the job table, runs, the scheduler, health, and `plexfm run`."""
