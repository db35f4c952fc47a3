"""Telemetry: device readings validated, stored (raw, rollups, latest) and dead-lettered with reasons."""
