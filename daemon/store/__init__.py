"""plexfm's own database: engine, versioned migrations, tables and the queries jobs use."""
