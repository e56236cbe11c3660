"""Fixtures for the deployment tests; the helpers live in deploy_helpers."""

from __future__ import annotations

import pytest

from ragfleet.deploy.environments import ENVIRONMENTS, EnvironmentName
from ragfleet.deploy.render import Manifest
from tests.deploy.deploy_helpers import SCENARIOS, render_scenario


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifests(scenario: str) -> tuple[Manifest, ...]:
    return render_scenario(scenario)


@pytest.fixture
def environment_manifests() -> dict[EnvironmentName, tuple[Manifest, ...]]:
    return {env: render_scenario(env.value) for env in ENVIRONMENTS}
