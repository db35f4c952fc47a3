"""Shared kernel: errors, ids, the clock, settings, roles, AWS clients and table naming. Imports no context."""
