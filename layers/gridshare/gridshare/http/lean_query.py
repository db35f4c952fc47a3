"""Query parameters parsed without pydantic, for the queries that are plainly valid.

A route's query model (`query="SitesQuery"`, gridshare.<context>.requests) stays the one definition of its
parameters: the OpenAPI document, the error messages and the tests read it. Its spec
(gridshare.http.query_specs, generated from it) records each field's parameter name, kind, constraints and
default. `parse` reads the request's parameters by that spec and returns a `LeanQuery` (every field as an
attribute, immutable, and `window()`/`bounds()` for a range: gridshare.http.ranges.RangeRules) only when the
model would accept the same parameters and produce the same values; anything unusual (an unknown or missing
parameter, an int in another spelling, a value out of bounds, a time its validators refuse) returns None,
and the request wrapper then validates with the model as before (gridshare.http.api), so every error is the
model's. A request answered here imports no pydantic (a Lambda's cold start: decision 0033).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from gridshare.http.query_specs import SPECS
from gridshare.http.ranges import RangeRules, ResolutionRangeRules, check_time
from gridshare.kernel.clock import TIME_PATTERN, parse_time

# The one spelling of an int read here (pydantic reads these and more): no sign, no leading zero, no separator.
_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_TIME = re.compile(TIME_PATTERN)
_CHECKS: dict[str, Callable[[str], object]] = {"parse_time": parse_time, "check_time": check_time}
_REFUSED = object()


class LeanQuery:
    """A query's fields by their python names (`limit`, `cursor`, `from_`, ...), immutable like the model."""

    __slots__ = ("_values",)
    _values: dict[str, Any]

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LeanQuery) and type(other) is type(self) and other._values == self._values

    def __hash__(self) -> int:
        return hash((type(self), tuple(self._values.items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


class LeanRangeQuery(LeanQuery, RangeRules):
    """A RangeQuery's fields, and its `window()`/`bounds()` by the same rules."""

    __slots__ = ()


class LeanResolutionRangeQuery(LeanQuery, ResolutionRangeRules):
    """A ResolutionRangeQuery's fields, and its `window()`/`bounds()` by the same rules."""

    __slots__ = ()


def field_values(query: LeanQuery) -> dict[str, Any]:
    """Every field of a lean query by its python name (a copy)."""
    return dict(query._values)


_BASES: dict[str | None, type[LeanQuery]] = {
    None: LeanQuery,
    "TimeRangeQuery": LeanQuery,
    "RangeQuery": LeanRangeQuery,
    "ResolutionRangeQuery": LeanResolutionRangeQuery,
}
_classes: dict[str, tuple[type[LeanQuery], dict[str, dict[str, Any]]] | None] = {}


def _class(key: str) -> tuple[type[LeanQuery], dict[str, dict[str, Any]]] | None:
    """The lean class of a model (its class variables, e.g. MAX_SPAN_DAYS, as its own) and its fields by
    parameter name; None for a model without a spec or whose spec is unsupported."""
    if key in _classes:
        return _classes[key]
    spec = SPECS.get(key)
    found = None
    if spec is not None and "unsupported" not in spec and spec["range"] in _BASES:
        name = key.rpartition(":")[2]
        base = _BASES[spec["range"]]
        cls = type(f"Lean{name}", (base,), {"__slots__": (), **spec["class_vars"]})
        found = (cls, {field["alias"]: field for field in spec["fields"]})
    _classes[key] = found
    return found


def parse(key: str, params: Mapping[str, object] | None) -> LeanQuery | None:
    """The query of the model `key` (`gridshare.sites.requests:SitesQuery`) from the request's parameters, or
    None: no spec, or parameters the model should judge (it may refuse them, or read them otherwise)."""
    found = _class(key)
    if found is None:
        return None
    cls, by_alias = found
    given = params or {}
    if any(name not in by_alias for name in given):
        return None  # unknown (the models forbid extras) or a python name (the models also accept those)
    values: dict[str, Any] = {}
    for alias, field in by_alias.items():
        if alias not in given:
            if field.get("required"):
                return None
            values[field["name"]] = field["default"]
            continue
        raw = given[alias]
        value = _value(field, raw) if isinstance(raw, str) else _REFUSED  # e.g. None: the model judges it
        if value is _REFUSED:
            return None
        values[field["name"]] = value
    return cls(values)


def _value(field: dict[str, Any], raw: str) -> object:
    kind = field["kind"]
    if kind == "int":
        if not _INT.fullmatch(raw):
            return _REFUSED
        number = int(raw)
        if ("ge" in field and number < field["ge"]) or ("le" in field and number > field["le"]):
            return _REFUSED
        return number
    if kind == "bool":
        return {"true": True, "false": False}.get(raw, _REFUSED)
    if kind in ("choice", "enum"):
        if raw not in field["choices"]:
            return _REFUSED
        if kind == "enum":
            module, _, name = field["enum"].partition(":")
            return getattr(importlib.import_module(module), name)(raw)
        return raw
    if not _plain(raw):
        return _REFUSED
    if kind == "time":
        if not (raw.isascii() and "\n" not in raw and _TIME.search(raw)):
            return _REFUSED
        try:
            for check in field["checks"]:
                _CHECKS[check](raw)
        except Exception:  # noqa: BLE001 - the model's validators decide (and word the error)
            return _REFUSED
        return raw
    if kind == "str":
        if len(raw) < field.get("min_length", 0) or len(raw) > field.get("max_length", len(raw)):
            return _REFUSED
        # a pattern as pydantic's regex engine reads it: Python's `$` also matches before a final line break
        if "pattern" in field and not (raw.isascii() and "\n" not in raw and re.search(field["pattern"], raw)):
            return _REFUSED
        return raw
    return _REFUSED


def _plain(raw: str) -> bool:
    """A string pydantic takes as it is: valid Unicode (no lone surrogates)."""
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
