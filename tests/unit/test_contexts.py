"""Keeps docs/adding-a-context.md honest: every context in gridshare.contexts has each of its parts."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from gridshare.app_factory import make_app
from gridshare.contexts import CONTEXTS, all_tables, api_modules, owned_tables
from gridshare.http.api import ROUTES

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "gridshare" / "gridshare"


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_context_has_routes_in_the_route_table(context: str) -> None:
    make_app("contexts-test")
    assert api_modules(context), f"gridshare/{context}/ has no api.py"
    assert any(spec.context == context for spec in ROUTES), f"{context} declares no route"


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_context_has_an_entry_stub_a_construct_and_tests(context: str) -> None:
    assert (REPO / "functions" / context / "lambda_app.py").is_file()
    construct = importlib.import_module(f"infra_cdk.constructs.{context}")
    assert hasattr(construct, "CONSTRUCT"), f"infra_cdk/constructs/{context}.py has no CONSTRUCT"
    folders = [REPO / "tests" / suite / context for suite in ("unit", "integration")]
    assert any(any(folder.glob("test_*.py")) for folder in folders), f"no tests/unit|integration/{context}/"


def test_every_table_has_exactly_one_owner() -> None:
    owners = [model for context in CONTEXTS for model in owned_tables(context)]
    assert len(owners) == len(set(owners)) == len(all_tables())


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("shared", ["kernel", "http", "ledger"])
def test_shared_packages_import_no_context(shared: str) -> None:
    for path in (LAYER / shared).glob("*.py"):
        for module in _imports(path):
            parts = module.split(".")
            assert not (parts[0] == "gridshare" and len(parts) > 1 and parts[1] in CONTEXTS), f"{path.name}: {module}"


def test_the_layer_never_imports_functions() -> None:
    for path in LAYER.rglob("*.py"):
        assert not any(m.split(".")[0] == "functions" for m in _imports(path)), path


# Pure modules (no tables, no AWS, no state) another context's pure rules may import directly (decision 0023):
# the settlement rules share the communities' allocation, and the settlement's metering the sites' energy
# figures (a site's export and import from its meters by role), rather than re-implementing them.
# Pure modules another context may import: rules and constants, no service, no AWS
PURE_SHARED = {"gridshare.communities.allocation", "gridshare.sites.energy", "gridshare.wallets.limits"}


def test_a_context_reaches_another_only_through_its_service() -> None:
    for context in CONTEXTS:
        for path in (LAYER / context).glob("*.py"):
            for module in _imports(path):
                parts = module.split(".")
                if parts[0] == "gridshare" and len(parts) > 2 and parts[1] in CONTEXTS and parts[1] != context:
                    assert parts[2] == "service" or module in PURE_SHARED, f"{context}/{path.name} imports {module}"


def test_list_responses_are_built_by_the_one_pagination_helper() -> None:
    for context in CONTEXTS:
        for path in (LAYER / context).glob("*.py"):
            assert '"pagination"' not in path.read_text(), f"{context}/{path.name}: use gridshare.http.pagination.page"
