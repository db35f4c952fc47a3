"""Thin Lambda entry points, one package per context."""
