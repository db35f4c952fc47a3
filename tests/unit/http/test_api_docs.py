"""docs/api.md's routes table is the one generated from the route table (`make openapi` rewrites it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridshare.app_factory import make_app
from gridshare.http.api_docs import BEGIN, END, render, routes_table
from gridshare.http.openapi import build_openapi

API_MD = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def test_the_committed_routes_table_is_the_generated_one() -> None:
    make_app("api-docs")
    page = API_MD.read_text()
    assert render(page, build_openapi()) == page, "run `make openapi` and commit docs/api.md"


def test_every_deployed_operation_has_one_row_with_its_roles_and_statuses() -> None:
    make_app("api-docs")
    document = build_openapi()
    table = routes_table(document)
    rows = [line for line in table.splitlines()[2:]]
    operations = [(m, p) for p, item in document["paths"].items() for m in item]
    assert len(rows) == len(operations)
    login = next(r for r in rows if "`/v1/auth/login`" in r)
    assert "| public |" in login and "Tokens \\| TwoFactorChallenge" in login and "429" in login
    users = next(r for r in rows if r.startswith("| GET | `/v1/users` |"))
    assert "| admin |" in users and "page of User" in users and "`?role=&limit=&cursor=`" in users
    me = next(r for r in rows if r.startswith("| PATCH | `/v1/me` |"))
    assert "| any role |" in me and "`{name?, phone?, avatarUrl?, preferences?}`" in me


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="routes"):
        render("# no table here\n", {"paths": {}})
    assert render(f"a\n{BEGIN}\nold\n{END}\nb\n", {"paths": {}}).endswith(f"{END}\nb\n")
