"""Gridshare shared library: domain, adapters, services and HTTP conventions (shipped as a Lambda layer)."""
