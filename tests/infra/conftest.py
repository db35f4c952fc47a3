"""The synthesized CDK app, shared by every infra test module: one synth per session (per xdist worker) of
the default deployment and one of the flagged deployment, not one per module (a synth takes seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra_cdk import constants
from infra_cdk.app import build_app


# ----------------------------------------------------------------------------------------- synthesis
@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The default deployment (cdk.json context only): what `cdk synth` produces."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(outdir=str(outdir))
    stack = app.node.children[0]
    synthesized: dict[str, Any] = Template.from_stack(stack).to_json()
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
    stack = assembly.stacks[0]
    warnings = [str(m.entry.data) for m in stack.messages if m.level.name == "WARNING"]
    return json.loads(Path(stack.template_full_path).read_text()), warnings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of the flagged deployment in one xdist group: with `--dist loadgroup` (the Makefile) they
    run on one worker, which synthesizes the flagged app once instead of each worker doing it."""
    for item in items:
        if "flagged" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("cdk-flagged"))
