"""Devices context: registry, certificates, policies."""
