"""services layer of the Gridshare library."""
