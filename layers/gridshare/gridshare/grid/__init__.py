"""The grid context: topology (nodes, connections), realtime and historical grid metrics."""
