"""domain layer of the Gridshare library."""
