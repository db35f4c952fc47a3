"""docs/api.md lists exactly the routes the code declares, with the roles each admits.

The table's last column is written by hand (what a route takes and answers, in a line); the method, the
path and the roles must match the route table (gridshare.http.api.ROUTES), so a route cannot be added,
removed or re-roled without the page following.
"""

from __future__ import annotations

import re
from pathlib import Path

from gridshare.app_factory import make_app
from gridshare.http.api import ANY_ROLE, ROUTES

API_MD = Path(__file__).resolve().parents[3] / "docs" / "api.md"
ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| ([^|]+) \|")


def _documented() -> dict[tuple[str, str], frozenset[str] | None]:
    """(method, path) -> roles (None: public) of each row of the routes table; `same` repeats the row above."""
    rows: dict[tuple[str, str], frozenset[str] | None] = {}
    previous: frozenset[str] | None = None
    for line in API_MD.read_text().splitlines():
        match = ROW.match(line)
        if not match:
            continue
        method, path, cell = match.group(1), match.group(2), match.group(3).strip()
        if cell.startswith("public"):
            roles = None
        elif cell == "any role":
            roles = ANY_ROLE
        elif cell == "same":
            roles = previous
        else:
            roles = frozenset(role.strip() for role in cell.split(","))
        assert (method, path) not in rows, f"{method} {path} is listed twice"
        rows[(method, path)] = previous = roles
    return rows


def test_the_routes_table_lists_every_deployed_route_with_its_roles() -> None:
    make_app("api-docs")
    declared = {(s.method, s.path): s.roles for s in ROUTES if not s.local_only}
    documented = _documented()
    assert sorted(set(declared) - set(documented)) == [], "add these routes to docs/api.md"
    assert sorted(set(documented) - set(declared)) == [], "docs/api.md lists routes the code does not declare"
    wrong = {
        f"{m} {p}": sorted(declared[(m, p)] or ["public"])
        for (m, p), roles in documented.items()
        if roles != declared[(m, p)]
    }
    assert wrong == {}, "docs/api.md gives these routes other roles than the code"
