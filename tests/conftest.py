"""Shared test set-up: fake AWS credentials, never a real account."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Property tests are checked for what they assert, never for how fast they run (speed is the benches'):
# no per-example deadline, and no failure because generating inputs was slow on a busy machine.
settings.register_profile("gridshare", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gridshare")

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Gridshare")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.pop("AWS_ENDPOINT_URL", None)

# Fixtures shared by the suites that run against moto in-process (aws, api, money).
pytest_plugins = ["tests.support.fixtures", "tests.support.wallets", "tests.support.settlement"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `heavy` (tens of seconds each) run first, the rest in their usual order: with xdist the
    long ones start while the other worker takes the many short ones, so both workers end together instead
    of one finishing a long test alone at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)
