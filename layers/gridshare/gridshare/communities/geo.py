"""A community's boundary: GeoJSON Polygon validation and point-in-polygon. Pure.

A Polygon is ``{"type": "Polygon", "coordinates": [outer ring, hole, ...]}``; a ring is a list of at least
4 ``[lon, lat]`` positions whose first and last are equal (closed), lon in [-180, 180], lat in [-90, 90].
A point is inside when it is inside the outer ring and inside no hole (even-odd ray casting; a point exactly
on an edge may fall either way). No antimeridian crossing: rings are taken as drawn on lon/lat axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["contains", "polygon_problem"]

MAX_POSITIONS = 10_000


def polygon_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid GeoJSON Polygon, or None when it is."""
    if not isinstance(value, dict) or value.get("type") != "Polygon":
        return 'a GeoJSON object with "type": "Polygon"'
    rings = value.get("coordinates")
    if not isinstance(rings, list) or not rings:
        return "coordinates: a list of linear rings (the outer ring first)"
    count = 0
    for n, ring in enumerate(rings):
        if not isinstance(ring, list) or len(ring) < 4:
            return f"ring {n}: at least 4 positions"
        for position in ring:
            if (
                not isinstance(position, list)
                or len(position) not in (2, 3)
                or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in position)
            ):
                return f"ring {n}: positions are [lon, lat]"
            if not (-180 <= position[0] <= 180 and -90 <= position[1] <= 90):
                return f"ring {n}: lon in [-180, 180], lat in [-90, 90]"
        if list(ring[0][:2]) != list(ring[-1][:2]):
            return f"ring {n}: not closed (the first and last positions differ)"
        count += len(ring)
    if count > MAX_POSITIONS:
        return f"at most {MAX_POSITIONS} positions"
    return None


def _in_ring(lon: float, lat: float, ring: Sequence[Sequence[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip([(p[0], p[1]) for p in ring[:-1]], [(p[0], p[1]) for p in ring[1:]], strict=True):
        if (y1 > lat) != (y2 > lat):
            crossing = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < crossing:
                inside = not inside
    return inside


def contains(polygon: dict[str, Any], lon: float, lat: float) -> bool:
    """Whether the point is inside the (valid) polygon."""
    outer, *holes = polygon["coordinates"]
    return _in_ring(lon, lat, outer) and not any(_in_ring(lon, lat, hole) for hole in holes)
