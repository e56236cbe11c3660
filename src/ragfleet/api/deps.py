"""Injected dependencies: the service container, settings and the caller's identity."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ragfleet.domain import ANONYMOUS
from ragfleet.errors import AuthError
from ragfleet.services import Services
from ragfleet.settings import Settings


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls; ``groups`` None means every document is readable."""

    name: str
    groups: list[str] | None


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings_dep(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(auto_error=False, description="An API key from auth.api_keys.")


def get_principal(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    keys = settings.auth.api_keys
    if not keys:
        return Principal(ANONYMOUS, None)
    if credentials is None:
        raise AuthError("missing API key: send Authorization: Bearer <key>")
    offered = credentials.credentials.encode()
    for key in keys:
        if hmac.compare_digest(offered, key.key.get_secret_value().encode()):
            return Principal(key.name, key.groups)
    raise AuthError("invalid API key")


PrincipalDep = Annotated[Principal, Depends(get_principal)]
