"""Injected dependencies: the service container, settings and the caller's identity.

Authentication, scopes and the per-key request rate are checked in one place,
``get_principal``, which every ``/v1`` route depends on; the scope a route needs follows from
its method and template (``required_scope``), so a new route cannot forget it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ragfleet.domain import ANONYMOUS
from ragfleet.errors import AuthError, ForbiddenError
from ragfleet.security.keys import KeyRing
from ragfleet.security.ratelimit import RateLimits
from ragfleet.services import Services
from ragfleet.settings import Scope, Settings

ALL_SCOPES: frozenset[Scope] = frozenset({"read", "write", "admin"})
# POST routes that only read (search and answers; rating an answer is part of reading).
READING_POSTS = frozenset({"/v1/search", "/v1/query", "/v1/feedback"})
ADMIN_ROUTES = frozenset({("DELETE", "/v1/collections/{name}")})
# Routes that spend LLM tokens: refused once the key's daily quota is spent.
LLM_ROUTES = frozenset({"/v1/query"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls; ``groups`` None means every document is readable."""

    name: str
    groups: list[str] | None
    scopes: frozenset[Scope] = ALL_SCOPES

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes


def required_scope(method: str, template: str) -> Scope:
    if (method, template) in ADMIN_ROUTES:
        return "admin"
    if method in ("GET", "HEAD") or (method == "POST" and template in READING_POSTS):
        return "read"
    return "write"


# Paging offsets fit a signed 64-bit SQL integer with room to spare.
MAX_OFFSET = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings_dep(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(auto_error=False, description="An API key from auth.api_keys.")


def _authenticate(
    request: Request, keys: KeyRing, limits: RateLimits, offered: str | None
) -> Principal:
    """The key's holder; failures are counted per client address, which is refused (429)
    after too many."""
    address = request.client.host if request.client else "unknown"
    limits.check_address(address)
    holder = keys.holder(offered) if offered is not None else None
    if holder is None:
        limits.auth_failed(address)
        if offered is None:
            raise AuthError("missing API key: send Authorization: Bearer <key>")
        raise AuthError("invalid API key")
    limits.request(holder.name)
    return Principal(holder.name, holder.groups, holder.scopes)


def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    keys: KeyRing = request.app.state.keys
    if not keys:
        principal = Principal(ANONYMOUS, None)
    else:
        offered = credentials.credentials if credentials else None
        principal = _authenticate(request, keys, services.limits, offered)
    request.state.key_name = principal.name
    template = getattr(request.scope.get("route"), "path", "")
    scope = required_scope(request.method, template)
    if scope not in principal.scopes:
        raise ForbiddenError(f"this API key lacks the {scope} scope")
    if template in LLM_ROUTES and services.llm is not None:
        services.limits.check_tokens(principal.name)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_metrics_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Guard of /metrics: its token when one is set; outside development, refused without."""
    token = settings.server.metrics_token
    if token is None:
        if settings.environment != "development":
            raise ForbiddenError("/metrics needs server.metrics_token outside development")
        return
    offered = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(offered, token.get_secret_value().encode()):
        raise AuthError("missing or wrong metrics token")
