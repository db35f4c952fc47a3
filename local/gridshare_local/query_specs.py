"""`gridshare query-specs`: the module gridshare.http.query_specs, written from the query models the routes name.

For every query model a route names (`query="SitesQuery"`), the spec records what gridshare.http.lean_query
needs to parse the query without pydantic: each field's python name, its query parameter (alias), its kind
(int, str, choice, enum, bool, and time: a string of gridshare.kernel.clock.TIME_PATTERN
that the range models' validators check) with its constraints and default, the class variables the range rules read,
and the model's range behaviour (none, TimeRangeQuery, RangeQuery, ResolutionRangeQuery). A model the lean
parser could not mirror exactly (another validator, a field type or constraint it does not know, a config
option, a method of its own) is recorded as unsupported, with the reason: its queries are always parsed by
pydantic. tests/unit/http/test_lean_query.py fails when the committed module differs from this output.
"""

from __future__ import annotations

import enum
import importlib
import os
import re
import subprocess
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from gridshare.kernel.clock import TIME_PATTERN

COMMAND = "gridshare query-specs > layers/gridshare/gridshare/http/query_specs.py"
LINE_LENGTH = 120

# The model_config a lean-parsed query may have (gridshare.http.models.QueryModel's).
CONFIG_KEYS = frozenset({"alias_generator", "populate_by_name", "extra", "frozen", "defer_build", "title"})
# Field validators the lean parser mirrors: (defining class, name) -> the pydantic-free check it calls.
KNOWN_VALIDATORS = {("TimeRangeQuery", "_time"): "parse_time", ("RangeQuery", "_sane"): "check_time"}
RANGE_BASES = ("ResolutionRangeQuery", "RangeQuery", "TimeRangeQuery")  # most specific first
# Names a query class may define besides its fields, class variables and the validators above.
ALLOWED_NAMES = frozenset({"model_config", "_abc_impl"})


class Unsupported(Exception):
    """The model cannot be parsed without pydantic; the message says why."""


def query_models() -> dict[str, type[Any]]:
    """`module:ClassName` -> the model, for every query a route names (the local stack's classes excluded)."""
    from gridshare.contexts import import_all_routes
    from gridshare.http.api import ROUTES

    import_all_routes()
    found: dict[str, type[Any]] = {}
    for route in ROUTES:
        if isinstance(route.query_ref, str) and route.names is not None:
            model = route.query
            assert model is not None
            found[f"{route.names.requests}:{route.query_ref}"] = model
    return dict(sorted(found.items()))


def spec_of(model: type[Any]) -> dict[str, Any]:
    """The model's spec, or `{"unsupported": reason}`."""
    try:
        return _spec(model)
    except Unsupported as exc:
        return {"unsupported": str(exc)}


def _spec(model: type[Any]) -> dict[str, Any]:
    from gridshare.http import models as bases

    model.model_rebuild()
    config = dict(model.model_config)
    if unknown := sorted(set(config) - CONFIG_KEYS):
        raise Unsupported(f"model_config {', '.join(unknown)}")
    if config.get("extra") != "forbid" or config.get("frozen") is not True:
        raise Unsupported("model_config: not extra='forbid' and frozen")
    decorators = model.__pydantic_decorators__
    for kind in ("validators", "root_validators", "model_validators", "computed_fields"):
        if names := sorted(getattr(decorators, kind)):
            raise Unsupported(f"{kind.replace('_', ' ')[:-1]} {', '.join(names)}")
    checks = _field_checks(model, decorators.field_validators)
    if model.model_post_init is not bases.QueryModel.model_post_init:
        raise Unsupported("model_post_init")
    range_kind = next((name for name in RANGE_BASES if issubclass(model, getattr(bases, name))), None)
    _check_own_names(model, bases, set(decorators.field_validators))
    fields = [_field(name, info, checks.get(name, [])) for name, info in model.model_fields.items()]
    aliases = [f["alias"] for f in fields]
    if len(set(aliases)) != len(aliases) or set(aliases) & ({f["name"] for f in fields} - set(aliases)):
        raise Unsupported("a parameter name is another field's name")
    spec: dict[str, Any] = {"range": range_kind, "class_vars": _class_vars(model), "fields": fields}
    return spec


def _field_checks(model: type[Any], validators: Mapping[str, Any]) -> dict[str, list[str]]:
    checks: dict[str, list[str]] = {}
    for name, decorator in validators.items():
        func = getattr(decorator.func, "__func__", decorator.func)
        owner = func.__qualname__.split(".")[0]
        check = KNOWN_VALIDATORS.get((owner, name))
        base = getattr(importlib.import_module("gridshare.http.models"), owner, None)
        if check is None or base is None or getattr(base.__dict__.get(name), "__func__", None) is not func:
            raise Unsupported(f"field validator {name}")
        if decorator.info.mode != "after" or set(decorator.info.fields) - {"from_", "to"}:
            raise Unsupported(f"field validator {name} (mode or fields)")
        for field in decorator.info.fields:
            checks.setdefault(field, []).append(check)
    order = list(KNOWN_VALIDATORS.values())
    return {field: sorted(found, key=order.index) for field, found in checks.items()}


def _check_own_names(model: type[Any], bases: types.ModuleType, validators: set[str]) -> None:
    """Every class of the model's MRO is pydantic's, a query model (its own, QueryModel or a range base) or
    a range rule of gridshare.http.ranges (which the lean queries mix in too); what a query model defines
    besides fields, class variables and known validators (a method, a property) is behaviour the lean
    query would not have."""
    from gridshare.http import ranges

    shared = {*bases.QueryModel.__mro__[1:], ranges.RangeRules, ranges.ResolutionRangeRules}
    for cls in model.__mro__:
        if cls in shared:
            continue
        if not issubclass(cls, bases.QueryModel):
            raise Unsupported(f"base class {cls.__qualname__}")
        own = {
            name
            for name in vars(cls)
            if not (name.startswith("__") and name.endswith("__"))
            and name not in ALLOWED_NAMES
            and name not in model.__class_vars__
            and name not in model.model_fields
            and name not in validators
        }
        if own:
            raise Unsupported(f"{cls.__qualname__} defines {', '.join(sorted(own))}")


def _class_vars(model: type[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in sorted(model.__class_vars__):
        value = getattr(model, name)
        if isinstance(value, Mapping):
            value = dict(value)
            if not all(isinstance(k, str) and type(v) is int for k, v in value.items()):
                raise Unsupported(f"class variable {name}")
        elif value is not None and type(value) not in (int, str, bool):
            raise Unsupported(f"class variable {name}")
        found[name] = value
    return found


def _field(name: str, info: Any, checks: list[str]) -> dict[str, Any]:
    if info.default_factory is not None or info.validate_default:
        raise Unsupported(f"{name}: a default factory or a validated default")
    if info.alias is None or info.validation_alias not in (None, info.alias):
        raise Unsupported(f"{name}: its parameter name")
    out: dict[str, Any] = {"name": name, "alias": info.alias}
    out.update(_kind(name, info.annotation, info.metadata))
    if checks:
        if out != {"name": name, "alias": info.alias, "kind": "str", "pattern": TIME_PATTERN}:
            raise Unsupported(f"{name}: a time check on other than a string of TIME_PATTERN")
        out.update(kind="time", checks=checks)
        del out["pattern"]
    if info.is_required():
        out["required"] = True
    else:
        default = info.default
        if default is not None and type(default) not in (int, str, bool):
            raise Unsupported(f"{name}: default {default!r}")
        if out["kind"] == "enum" and default is not None:
            raise Unsupported(f"{name}: an enum default")
        out["default"] = default
    return out


def _kind(name: str, annotation: Any, metadata: list[Any]) -> dict[str, Any]:
    import annotated_types

    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1 or len(typing.get_args(annotation)) != 2:
            raise Unsupported(f"{name}: {annotation}")
        annotation = members[0]
    constraints: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            constraints["ge"] = item.ge
        elif isinstance(item, annotated_types.Le):
            constraints["le"] = item.le
        elif isinstance(item, annotated_types.MinLen):
            constraints["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            constraints["max_length"] = item.max_length
        elif type(item).__name__ == "_PydanticGeneralMetadata" and set(vars(item)) == {"pattern"}:
            constraints["pattern"] = _pattern(name, item.pattern)
        else:
            raise Unsupported(f"{name}: constraint {item!r}")
    if annotation is int:
        kind, allowed = "int", {"ge", "le"}
        if not all(type(constraints.get(k, 0)) is int for k in ("ge", "le")):
            raise Unsupported(f"{name}: bounds that are not ints")
    elif annotation is str:
        kind, allowed = "str", {"min_length", "max_length", "pattern"}
    elif annotation is bool:
        kind, allowed = "bool", set()
    elif typing.get_origin(annotation) is Literal:
        choices = list(typing.get_args(annotation))
        if not all(type(c) is str for c in choices):
            raise Unsupported(f"{name}: a literal of other than strings")
        return {"kind": "choice", "choices": choices, **_only(name, constraints, set())}
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"kind": "enum", **_enum(name, annotation), **_only(name, constraints, set())}
    else:
        raise Unsupported(f"{name}: type {annotation!r}")
    return {"kind": kind, **_only(name, constraints, allowed)}


def _only(name: str, constraints: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    if extra := sorted(set(constraints) - allowed):
        raise Unsupported(f"{name}: constraint {', '.join(extra)}")
    return constraints


def _pattern(name: str, pattern: Any) -> str:
    """An anchored pattern without extensions (lookarounds, flags, references): Python's `re` and pydantic's
    regex engine agree on it for the values the lean parser lets through (ASCII, no line breaks)."""
    text = pattern if isinstance(pattern, str) else getattr(pattern, "pattern", None)
    if not isinstance(text, str) or not (text.startswith("^") and text.endswith("$")) or "(?" in text:
        raise Unsupported(f"{name}: pattern {text!r}")
    if re.search(r"\\[1-9bBAZzk]", text):
        raise Unsupported(f"{name}: pattern {text!r}")
    return text


def _enum(name: str, cls: type[enum.Enum]) -> dict[str, Any]:
    values = [member.value for member in cls]
    if not all(type(v) is str for v in values) or len(set(values)) != len(values):
        raise Unsupported(f"{name}: enum {cls.__qualname__} of other than strings")
    if "." in cls.__qualname__ or not _pydantic_free(cls.__module__):
        raise Unsupported(f"{name}: enum {cls.__qualname__} in a module that imports pydantic")
    return {"enum": f"{cls.__module__}:{cls.__qualname__}", "choices": values}


def _pydantic_free(module: str) -> bool:
    """Whether importing `module` in a fresh interpreter (the repository's code on its path) leaves pydantic
    out of sys.modules; a module that does not import there counts as not."""
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(str(p) for p in (root, root / "layers" / "gridshare", root / "local"))
    code = f"import importlib, sys; importlib.import_module({module!r}); print('pydantic' in sys.modules)"
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={**os.environ, "PYTHONPATH": path},
    )
    return done.returncode == 0 and done.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------------ the module
HEADER = f'''"""The query models' specs, for parsing queries without pydantic (gridshare.http.lean_query).

Generated from the query models the routes name (gridshare.<context>.requests), which stay the source of truth.
Do not edit; regenerate: `{COMMAND}`.
A model whose spec says `unsupported` is always parsed by pydantic.
"""

from __future__ import annotations

from typing import Any, Final

SPECS: Final[dict[str, dict[str, Any]]] = '''


def render() -> str:
    """The text of gridshare.http.query_specs."""
    specs = {key: spec_of(model) for key, model in query_models().items()}
    return HEADER + _literal(specs, 0, len("SPECS: Final[dict[str, dict[str, Any]]] = ")) + "\n"


def _literal(value: Any, indent: int, used: int) -> str:
    """`value` as ruff formats it: on one line when it fits, else one item per line with a trailing comma."""
    flat = _flat(value)
    if used + len(flat) + 1 <= LINE_LENGTH or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        heads = {f"{_flat(k)}: ": v for k, v in value.items()}
        lines = [f"{pad}{head}{_literal(v, indent + 4, len(pad) + len(head))}," for head, v in heads.items()]
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    lines = [f"{pad}{_literal(v, indent + 4, len(pad))}," for v in value]
    return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"


def _flat(value: Any) -> str:
    if isinstance(value, str):
        text = repr(value)
        return '"' + text[1:-1] + '"' if text.startswith("'") and '"' not in value else text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if value is None or type(value) in (int, bool):
        return repr(value)
    raise TypeError(f"not a literal: {value!r}")


def main() -> None:
    sys.stdout.write(render())
