"""THE list of contexts. Everything that spans contexts iterates it; nothing else names them all.

A context `<name>` is a package `gridshare/<name>/` with, by convention:

- `api.py` and any `*_api.py`: each holds an `ApiBlueprint` named `api` (its routes), importing no pydantic;
- `requests.py` and `responses.py`: the request and response models its routes name (gridshare.http.api);
- `models.py` (optional): `TABLES`, the PynamoDB models of the tables it owns (the CDK construct creates
  them, the local stack provisions them, least-privilege grants follow ownership);
- `functions/<name>/lambda_app.py`: the entry stub of its API Lambda;
- `infra_cdk/constructs/<name>.py`: its construct; `tests/{unit,integration}/<name>/`: its tests.

The app factory, the route table, the CDK stack, the local stack's provisioning and the tests read this
list; `tests/unit/test_contexts.py` fails when a context lacks one of the parts above
(docs/adding-a-context.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynamodb.models import Model

CONTEXTS: tuple[str, ...] = (
    "platform",
    "identity",
    "devices",
    "telemetry",
    "wallets",
    "sites",
    "communities",
    "grid",
    "market",
    "settlement",
    "alerts",
    "notifications",
)


@cache
def api_modules(context: str) -> tuple[str, ...]:
    """Dotted names of the context's route modules (`api.py` first, then `*_api.py` by name)."""
    package = importlib.import_module(f"gridshare.{context}")
    found = [info.name for info in pkgutil.iter_modules(package.__path__)]
    names = sorted((name for name in found if name == "api" or name.endswith("_api")), key=lambda n: (n != "api", n))
    return tuple(f"gridshare.{context}.{name}" for name in names)


def import_routes(context: str) -> list[ModuleType]:
    """Import the context's route modules (each declaration fills gridshare.http.api.ROUTES)."""
    return [importlib.import_module(name) for name in api_modules(context)]


def import_all_routes() -> None:
    """Import every context's routes without building an app (the OpenAPI document needs them all)."""
    for context in CONTEXTS:
        import_routes(context)


def owned_tables(context: str) -> tuple[type[Model], ...]:
    """The tables a context owns (its `models.TABLES`), or none."""
    try:
        module = importlib.import_module(f"gridshare.{context}.models")
    except ModuleNotFoundError as exc:
        if exc.name != f"gridshare.{context}.models":
            raise
        return ()
    return tuple(module.TABLES)


def table_owners() -> dict[str, tuple[type[Model], ...]]:
    """Context -> the tables it owns, for every context that owns any."""
    return {context: tables for context in CONTEXTS if (tables := owned_tables(context))}


def all_tables() -> tuple[type[Model], ...]:
    return tuple(model for tables in table_owners().values() for model in tables)


def ensure_tables() -> None:
    """Create every table that does not exist (local stack and tests; CDK creates them on AWS)."""
    for model in all_tables():
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
