"""Grid context: the grid topology, its live view and metrics (entry stubs)."""
