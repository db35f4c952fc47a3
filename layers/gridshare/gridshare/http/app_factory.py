"""Builds a Chalice app from context blueprints: the whole API (app.py) or one context's Lambda."""

from __future__ import annotations

import importlib

from chalice import Chalice

# context -> modules each holding an ApiBlueprint `api`
CONTEXT_MODULES: dict[str, tuple[str, ...]] = {
    "platform": ("functions.platform.api",),
    "identity": (
        "functions.identity.api",
        "functions.identity.mfa_api",
        "functions.identity.users_api",
        "functions.identity.security_api",
    ),
    "devices": ("functions.devices.api",),
    "telemetry": ("functions.telemetry.api",),
}


def import_all_contexts() -> None:
    """Import every context's routes (filling gridshare.http.api.ROUTES) without building an app."""
    for modules in CONTEXT_MODULES.values():
        for module in modules:
            importlib.import_module(module)


def make_app(name: str, contexts: list[str] | tuple[str, ...] = tuple(CONTEXT_MODULES)) -> Chalice:
    app = Chalice(app_name=name)
    app.debug = False  # never a stack trace in a response
    for context in contexts:
        for name in CONTEXT_MODULES[context]:
            app.register_blueprint(importlib.import_module(name).api.build())
    return app
