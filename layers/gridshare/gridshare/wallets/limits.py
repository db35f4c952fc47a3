"""The wallets' amount limits, as constants: request models name them without importing the service."""

INVESTMENT_MAX = 100_000_000
"""Largest single investment in minor units (1,000,000 EUR)."""
