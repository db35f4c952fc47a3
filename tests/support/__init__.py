"""Test support shared by every suite: sample events (events/) and their loader."""
