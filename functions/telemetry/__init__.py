"""Telemetry context: ingest from the IoT rule queue, dead letters, readings API."""
