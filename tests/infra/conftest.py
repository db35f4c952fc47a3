"""The synthesized CDK app, shared by every infra test module: one synth per session (per xdist worker) of
the default deployment and one of the flagged deployment, not one per module (a synth takes seconds)."""

from __future__ import annotations

from typing import Any

import pytest

from infra_cdk import constants
from infra_cdk.app import build_app
from tests.infra.templates import templates_of


# ----------------------------------------------------------------------------------------- synthesis
@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The default deployment (cdk.json context only): what `cdk synth` produces."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(outdir=str(outdir))
    stack = app.node.children[0]
    synthesized, _ = templates_of(stack)  # the parent and its nested stacks, flattened (tests/infra/templates.py)
    synthesized["__outdir__"] = str(outdir)
    return synthesized


@pytest.fixture(scope="session")
def flagged(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[str]]:
    """A deployment with CORS and the Timestream flag on; returns the template and its warnings."""
    outdir = tmp_path_factory.mktemp("cdk.out-flags")
    app = build_app(
        outdir=str(outdir),
        context={
            constants.CTX_CORS_ORIGINS: "https://app.gridshare.dev",
            constants.CTX_TIMESTREAM: "true",
            constants.CTX_IOT_ENDPOINT: "abc123-ats.iot.eu-west-1.amazonaws.com",
            constants.CTX_STAGE: "test",
        },
    )
    assembly = app.synth()
    warnings = [str(m.entry.data) for m in assembly.stacks[0].messages if m.level.name == "WARNING"]
    synthesized, _ = templates_of(app.node.children[0])
    return synthesized, warnings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of the flagged deployment in one xdist group: with `--dist loadgroup` (the Makefile) they
    run on one worker, which synthesizes the flagged app once instead of each worker doing it."""
    for item in items:
        if "flagged" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("cdk-flagged"))
