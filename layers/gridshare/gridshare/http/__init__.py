"""http layer of the Gridshare library."""
