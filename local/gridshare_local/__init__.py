"""Gridshare local stack: moto, the API, a local IoT Core (CA, Mosquitto, rule bridge) and the CLI."""
