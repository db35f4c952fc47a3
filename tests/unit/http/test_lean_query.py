"""Queries parsed without pydantic (gridshare.http.lean_query) are the models' queries: whenever the lean
parser answers, the model accepts the same parameters with the same values (and the same range), and the
specs it reads (gridshare.http.query_specs) are what `gridshare query-specs` generates from the models."""

from __future__ import annotations

import enum
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gridshare.http import lean_query
from gridshare.http.query_specs import SPECS
from gridshare.http.ranges import EARLIEST_MS
from gridshare.kernel import clock, errors
from gridshare_local import query_specs as generator

REPO = Path(__file__).resolve().parents[3]
NOW = "2026-11-24T12:00:00.000Z"
NOW_MS = clock.parse_time(NOW)
DAY_MS = 86_400_000
MODELS = generator.query_models()
SUPPORTED = sorted(key for key, spec in SPECS.items() if "unsupported" not in spec)


def test_the_committed_specs_are_the_generated_ones() -> None:
    committed = (REPO / "layers/gridshare/gridshare/http/query_specs.py").read_text()
    assert committed == generator.render(), f"the query models changed: regenerate with `{generator.COMMAND}`"


def test_every_query_a_route_names_has_a_spec_and_most_are_supported() -> None:
    assert sorted(SPECS) == sorted(MODELS)
    assert len(SUPPORTED) >= 25
    assert SPECS["gridshare.identity.requests:EventsQuery"] == {"unsupported": "field validator _type"}
    assert SPECS["gridshare.wallets.requests:StatementQuery"] == {"unsupported": "field validator _recent"}


# ------------------------------------------------------------------------------------------------ values
def _int_values(field: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = field.get("ge", 0), field.get("le", 10**6)
    numbers = st.integers(low - 2, high + 2) | st.sampled_from([low - 1, low, low + 1, high - 1, high, high + 1])
    plain = numbers.map(str)
    odd = st.one_of(
        numbers.map(lambda n: f"0{n}"),
        numbers.map(lambda n: f"+{n}"),
        numbers.map(lambda n: f" {n}"),
        numbers.map(lambda n: f"{n} "),
        numbers.map(lambda n: f"{n}.0"),
        numbers.map(lambda n: f"{n}\n"),
        numbers.map(lambda n: f"{n:_}"),
        st.sampled_from(["", "-0", "00", "1e1", "0x10", "١٢", "99999999999999999999", "true", "none"]),
    )
    return st.one_of(plain, plain, odd)


def _str_values(field: dict[str, Any]) -> st.SearchStrategy[str]:
    high = field.get("max_length", 80)
    sized = st.text(min_size=0, max_size=high + 2)
    low = field.get("min_length", 0)
    boundary = st.sampled_from(sorted({max(0, low - 1), low, low + 1, high - 1, high, high + 1})).map(lambda n: "x" * n)
    odd = st.sampled_from(["", " ", "a\n", "\ud800", "é" * high, "\x00", "cursor=="])
    return st.one_of(sized, boundary, odd, st.text(string.ascii_letters + string.digits, max_size=high + 1))


def _choice_values(field: dict[str, Any]) -> st.SearchStrategy[str]:
    choices = field["choices"]
    near = st.sampled_from(choices).flatmap(
        lambda c: st.sampled_from([c.upper(), c.capitalize(), f" {c}", f"{c} ", f"{c}\n", c[:-1], c + "x"])
    )
    return st.one_of(st.sampled_from(choices), st.sampled_from(choices), near, st.text(max_size=12))


def _bool_values(_: dict[str, Any]) -> st.SearchStrategy[str]:
    return st.sampled_from(["true", "false", "True", "FALSE", "1", "0", "yes", "off", "", " true", "true\n"])


def _iso(ms: int, form: int) -> str:
    iso = clock.to_iso(ms)
    return [iso, iso[:19] + "Z", iso[:19], iso[:10], iso[:19] + "+02:00", iso[:16] + "-0530", iso.replace("T", " ")][
        form
    ]


def _time_values(_: dict[str, Any]) -> st.SearchStrategy[str]:
    sane = st.integers(EARLIEST_MS - DAY_MS, NOW_MS + 2 * DAY_MS)
    near = st.sampled_from(
        [EARLIEST_MS - 1, EARLIEST_MS, EARLIEST_MS + 1, NOW_MS + DAY_MS, NOW_MS + DAY_MS + 1, NOW_MS - 31 * DAY_MS]
    )
    instants = st.one_of(sane, sane, near)
    far = st.integers(-(10**15), 10**16)
    odd = st.sampled_from(
        ["", "now", "2026-02-30", "2026-13-01", "2026-11-24T25:00:00Z", "2026-11-24T12:00:00+2", "1e12", " 1"]
    )
    return st.one_of(
        instants.map(str),
        instants.map(str),
        st.tuples(instants, st.integers(0, 6)).map(lambda t: _iso(*t)),
        st.tuples(instants, st.integers(0, 6)).map(lambda t: _iso(*t)),
        far.map(str),
        instants.map(lambda ms: f"{ms}\n"),
        instants.map(lambda ms: f"0{ms}"),
        odd,
    )


VALUES = {"int": _int_values, "str": _str_values, "choice": _choice_values, "bool": _bool_values, "time": _time_values}


@st.composite
def _params(draw: st.DrawFn, spec: dict[str, Any]) -> dict[str, str]:
    params: dict[str, str] = {}
    for field in spec["fields"]:
        if draw(st.booleans()) or (field.get("required") and draw(st.integers(0, 9)) > 0):
            params[field["alias"]] = draw(VALUES[field["kind"]](field))
    if draw(st.integers(0, 9)) == 0:  # a parameter the model does not have, or a field by its python name
        names = [f["name"] for f in spec["fields"]]
        params[draw(st.sampled_from([*names, "extra", "Limit", "page", ""]))] = draw(st.sampled_from(["1", "x", ""]))
    return params


def _outcome(call: Any) -> tuple[str, object]:
    try:
        return "ok", call()
    except errors.GridshareError as exc:
        return type(exc).__name__, (exc.detail, exc.errors)


def _same(key: str, params: dict[str, str]) -> None:
    lean = lean_query.parse(key, params)
    if lean is None:
        return  # the model judges these (the request wrapper asks it)
    model = MODELS[key]
    try:
        parsed = model.model_validate(params)
    except ValidationError as exc:
        raise AssertionError(f"lean accepted {params!r} which {key} refuses: {exc}") from None
    values = lean_query.field_values(lean)
    assert sorted(values) == sorted(model.model_fields)
    for name, value in values.items():
        expected = getattr(parsed, name)
        assert (type(value), value) == (type(expected), expected), (name, params)
    if SPECS[key]["range"] in ("RangeQuery", "ResolutionRangeQuery"):
        assert _outcome(lean.window) == _outcome(parsed.window), params
        assert _outcome(lean.bounds) == _outcome(parsed.bounds), params
        assert (lean.from_ms, lean.to_ms, lean.max_span_days()) == (
            parsed.from_ms,
            parsed.to_ms,
            parsed.max_span_days(),
        )


@pytest.mark.parametrize("key", SUPPORTED)
def test_whenever_the_lean_parser_answers_the_model_accepts_the_same_values(key: str) -> None:
    # Given a query model with a spec, and parameters near its constraints (valid or not, known or not)
    @given(_params(SPECS[key]))
    def check(params: dict[str, str]) -> None:
        # When the lean parser answers (at a fixed now: the times' sanity and the default window read it)
        with clock.frozen(NOW):
            # Then the model accepts them, every field is the same value of the same type, and so is the range
            _same(key, params)

    check()


def _typical(spec: dict[str, Any]) -> list[dict[str, str]]:
    """Plain valid queries: the defaults, and each field alone at a valid value."""
    valid = {
        "int": lambda f: str(f.get("ge", 1)),
        "str": lambda f: "a" * f.get("min_length", 1),
        "bool": lambda f: "true",
    }
    valid |= {"choice": lambda f: f["choices"][-1], "time": lambda f: str(NOW_MS - DAY_MS // 2)}
    required = {f["alias"]: valid[f["kind"]](f) for f in spec["fields"] if f.get("required")}
    queries = [required]
    for field in spec["fields"]:
        queries.append({**required, field["alias"]: valid[field["kind"]](field)})
        if field["kind"] == "int":
            queries.append({**required, field["alias"]: str(field.get("le", 10))})
        if field["kind"] == "choice":
            queries += [{**required, field["alias"]: choice} for choice in field["choices"]]
    return queries


@pytest.mark.parametrize("key", SUPPORTED)
def test_a_plainly_valid_query_is_parsed_without_pydantic(key: str) -> None:
    # Given a supported model and plainly valid queries: none, the required fields, each field at a valid value
    with clock.frozen(NOW):
        for params in _typical(SPECS[key]):
            # When the lean parser reads them
            lean = lean_query.parse(key, params)
            # Then it answers (the fast path is taken), with the model's values
            assert lean is not None, params
            _same(key, params)


@pytest.mark.parametrize(
    ("key", "params", "expected"),
    [
        ("gridshare.sites.requests:SitesQuery", None, {"kind": None, "limit": 50, "cursor": None}),
        ("gridshare.sites.requests:SitesQuery", {"limit": "10"}, {"kind": None, "limit": 10, "cursor": None}),
        (
            "gridshare.sites.requests:SitesQuery",
            {"kind": "wind", "cursor": "c1"},
            {"kind": "wind", "limit": 50, "cursor": "c1"},
        ),
        (
            "gridshare.wallets.requests:TransactionsQuery",
            {"from": "2026-11-01T00:00:00Z", "type": "topup", "asset": "EUR"},
            {
                "from_": "2026-11-01T00:00:00Z",
                "to": None,
                "asset": "EUR",
                "type_": "topup",
                "limit": 50,
                "cursor": None,
            },
        ),
        (
            "gridshare.communities.requests:EnergyQuery",
            {"resolution": "15m", "detail": "true"},
            {"from_": None, "to": None, "resolution": "15m", "detail": True},
        ),
    ],
)
def test_typical_queries_by_name(key: str, params: dict[str, str] | None, expected: dict[str, Any]) -> None:
    lean = lean_query.parse(key, params)
    assert lean is not None
    assert lean_query.field_values(lean) == expected
    assert [getattr(lean, name) for name in expected] == list(expected.values())


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "010"},
        {"limit": "+5"},
        {"limit": "5.0"},
        {"kind": "Solar"},
        {"page": "2"},
        {"Limit": "5"},
        {"limit": None},
        {"cursor": None},
    ],
)
def test_anything_unusual_is_left_to_the_model(params: dict[str, str | None]) -> None:
    assert lean_query.parse("gridshare.sites.requests:SitesQuery", params) is None


def test_a_range_query_answers_its_window_and_bounds_by_the_models_rules() -> None:
    with clock.frozen(NOW):
        lean = lean_query.parse("gridshare.telemetry.requests:HistoryQuery", {"metric": "power_w", "resolution": "1h"})
        assert lean is not None
        window = lean.window()
        assert (window.start, window.end) == (NOW_MS + 1 - DAY_MS, NOW_MS + 1)
        assert lean.max_span_days() == 92 and lean.span_rule() == " at resolution 1h"
        too_long = {"metric": "m", "resolution": "1h", "from": str(NOW_MS - 100 * DAY_MS)}
        wide = lean_query.parse("gridshare.telemetry.requests:HistoryQuery", too_long)
        assert wide is not None
        with pytest.raises(errors.InvalidInput, match="at most 92 days before 'to' at resolution 1h"):
            wide.window()


def test_a_lean_query_is_immutable() -> None:
    lean = lean_query.parse("gridshare.sites.requests:SitesQuery", {"limit": "10"})
    assert lean is not None
    with pytest.raises(AttributeError, match="frozen"):
        lean.limit = 20  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no field"):
        _ = lean.nothing
    assert lean == lean_query.parse("gridshare.sites.requests:SitesQuery", {"limit": "10"})


def test_a_model_without_a_spec_or_an_unsupported_one_is_left_to_pydantic() -> None:
    assert lean_query.parse("gridshare.sites.requests:NoSuchQuery", {}) is None
    assert lean_query.parse("gridshare.identity.requests:EventsQuery", {}) is None
    assert lean_query.parse("gridshare.wallets.requests:StatementQuery", {}) is None


def _route(path: str, method: str = "GET") -> Any:
    from gridshare.contexts import import_all_routes
    from gridshare.http.api import ROUTES

    import_all_routes()
    return next(r for r in ROUTES if r.path == path and r.method == method)


def test_the_request_wrapper_takes_the_lean_query_and_leaves_errors_to_the_model() -> None:
    from gridshare.http.api import _parse_query

    route = _route("/v1/sites")
    # A plainly valid query: the lean object
    assert isinstance(_parse_query({"limit": "10"}, route), lean_query.LeanQuery)
    # An invalid one: the model's 422, worded as before
    with pytest.raises(errors.InvalidInput) as refused:
        _parse_query({"limit": "0"}, route)
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("limit", "Input should be greater than or equal to 1")
    ]
    # A form the lean parser leaves to the model, which accepts it: the model's instance
    parsed = _parse_query({"limit": "010"}, route)
    assert isinstance(parsed, MODELS["gridshare.sites.requests:SitesQuery"]) and parsed.limit == 10


# ------------------------------------------------------------------------------------------------ the generator
def test_a_model_the_lean_parser_cannot_mirror_is_unsupported() -> None:
    from typing import ClassVar

    from pydantic import Field, StrictInt, field_validator, model_validator

    from gridshare.http.models import QueryModel, RangeQuery

    class Checked(QueryModel):
        limit: int = 1

        @model_validator(mode="after")
        def _both(self) -> Checked:
            return self

    class Strict(QueryModel):
        limit: StrictInt = 1

    class Floats(QueryModel):
        ratio: float = Field(default=0.5, ge=0)

    class Exclusive(QueryModel):
        limit: int = Field(default=1, gt=0)

    class Validated(QueryModel):
        name: str | None = None

        @field_validator("name")
        @classmethod
        def _upper(cls, value: str | None) -> str | None:
            return value.upper() if value else value

    class WithMethod(RangeQuery):
        MAX_SPAN_DAYS: ClassVar[int | None] = 3

        def window_days(self) -> int:
            return 3

    class Helper:
        def pages(self) -> int:
            return 2

    class Mixed(QueryModel, Helper):
        limit: int = 1

    class Plain(RangeQuery):
        MAX_SPAN_DAYS: ClassVar[int | None] = 3
        limit: int = Field(default=5, ge=1, le=9)

    for model, reason in (
        (Checked, "model validator _both"),
        (Strict, "limit: constraint Strict"),
        (Floats, "ratio: type"),
        (Exclusive, "limit: constraint Gt"),
        (Validated, "field validator _upper"),
        (WithMethod, "defines window_days"),
        (Mixed, "base class"),
    ):
        assert reason in generator.spec_of(model).get("unsupported", ""), model
    assert generator.spec_of(Plain) == {
        "range": "RangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_SPAN_DAYS": 3},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 9, "default": 5},
        ],
    }


class Shade(enum.Enum):  # in a module that imports pydantic: its queries stay pydantic's
    DARK = "dark"


def test_an_enum_of_a_pydantic_free_module_is_read_as_its_member(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.http.models import QueryModel
    from tests.unit.http.lean_enum_values import Colour

    class Paint(QueryModel):
        colour: Colour | None = None

    class Ink(QueryModel):
        shade: Shade | None = None

    # Given a query whose field is an enum of a module without pydantic
    spec = generator.spec_of(Paint)
    enum_path = "tests.unit.http.lean_enum_values:Colour"
    field = {"name": "colour", "alias": "colour", "kind": "enum", "enum": enum_path, "choices": ["red", "green"]}
    assert spec["fields"] == [{**field, "default": None}]
    monkeypatch.setitem(SPECS, "tests:Paint", spec)
    monkeypatch.setattr(lean_query, "_classes", {})
    # When the lean parser reads a member's value, Then it answers the member, as the model does
    lean = lean_query.parse("tests:Paint", {"colour": "red"})
    assert lean is not None and lean.colour is Colour.RED is Paint.model_validate({"colour": "red"}).colour
    assert lean_query.parse("tests:Paint", {"colour": "RED"}) is None
    # and an enum of a module that imports pydantic is not read without it
    assert "imports pydantic" in generator.spec_of(Ink)["unsupported"]
