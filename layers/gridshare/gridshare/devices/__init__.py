"""Devices: the registry, X.509 certificates and per-thing IoT policies."""
