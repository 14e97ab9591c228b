"""Request guards used as FastAPI dependencies: API keys and per-client rate limits."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Depends, Request

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.errors import UnauthorizedError


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key")


def _key_matches(presented: str, keys: list[str]) -> bool:
    # Compare against every key, always: the time taken says nothing about which key came close.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    return matched


async def authenticate(request: Request, services: Services = Depends(get_services)) -> None:
    """When API keys are configured, require one (Authorization: Bearer <key>, or X-API-Key)."""
    keys = services.settings.api.auth.api_keys
    if not keys:
        return
    presented = _presented_key(request)
    if presented is None or not _key_matches(presented, keys):
        raise UnauthorizedError("a valid API key is required (Authorization: Bearer <key>)")


def client_identity(request: Request) -> str:
    """Who a request counts against: its API key (hashed) when it has one, else its address."""
    presented = _presented_key(request)
    if presented:
        return "key:" + hashlib.sha256(presented.encode()).hexdigest()[:16]
    return "ip:" + (request.client.host if request.client else "unknown")


async def rate_limit(request: Request, services: Services = Depends(get_services)) -> None:
    if services.rate_limiter is not None:
        await services.rate_limiter.check(client_identity(request))


GUARDS = [Depends(authenticate), Depends(rate_limit)]
