"""Entry point of the CDK app: `python -m infra_cdk.app` (cdk.json's "app").

`build_app` is what the infrastructure tests call too, with cdk.json's context merged in, so a test
synthesizes the same stack `cdk synth` does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"


def _ensure_import_paths() -> None:
    """`cdk` runs the app from the repo root with whatever python is on PATH: make `gridshare` (the
    layer's package) and `functions` importable even without an editable install."""
    for path in (REPO_ROOT, REPO_ROOT / "layers" / "gridshare"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def cdk_json_context() -> dict[str, Any]:
    """The "context" block of cdk.json (feature flags and default flag values)."""
    if not CDK_JSON.exists():
        return {}
    return dict(json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {}))


def build_app(*, outdir: str | None = None, context: dict[str, Any] | None = None) -> Any:
    """An App holding GridshareStack; `context` overrides cdk.json (tests pass flags this way)."""
    _ensure_import_paths()
    import aws_cdk as cdk

    from infra_cdk import constants
    from infra_cdk.settings import DeploySettings
    from infra_cdk.stack import GridshareStack

    merged = {**cdk_json_context(), **(context or {})}
    app = cdk.App(outdir=outdir, context=merged or None)
    settings = DeploySettings.from_scope(app)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    GridshareStack(
        app,
        constants.stack_name(settings.stage),
        settings=settings,
        env=cdk.Environment(account=account, region=region) if account and region else None,
        description=f"Gridshare backend ({settings.stage})",
    )
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
