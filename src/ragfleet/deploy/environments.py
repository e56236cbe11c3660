"""The environments Argo CD deploys; kept free of heavy imports so the CLI loads fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class EnvironmentName(StrEnum):
    """The environments Argo CD deploys."""

    STAGING = "staging"
    PROD = "prod"


@dataclass(frozen=True)
class Environment:
    """Where and with which values file one environment is deployed."""

    namespace: str
    values_file: str


ENVIRONMENTS: Final[Mapping[EnvironmentName, Environment]] = {
    EnvironmentName.STAGING: Environment("rag-staging", "values-staging.yaml"),
    EnvironmentName.PROD: Environment("rag-prod", "values-prod.yaml"),
}
