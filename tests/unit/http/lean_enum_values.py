"""A string enum in a module that imports no pydantic: a query field the lean parser reads as its member."""

from __future__ import annotations

import enum


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"
