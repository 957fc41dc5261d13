"""`python -m daemon` runs the plexfm command line."""

from daemon.cli import main

raise SystemExit(main())
