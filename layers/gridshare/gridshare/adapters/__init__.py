"""adapters layer of the Gridshare library."""
