"""Who is calling, and what it may spend: API keys, trusted networks, tenants and per-caller rate budgets.

Every guarded route depends on ``caller_quota``: it authenticates the request and names the
caller's budget. Routes that do work take ``checked_quota`` (429 at once when the budget is already
spent, counting nothing) and hand it to their service, which charges it once when the work starts:
a cache hit or a refused request is free. Deletes are charged as they are let in (``CHARGED``);
reads (voice lists, a voice's state) are free. Routes that read or store owned things take
``current_caller``: the tenant the request acts for (tenancy.py).

The client's address is the peer's, unless the peer is a proxy of ``api.forwarded_allow_ips``
(app.py installs the only middleware that may replace it): a local process cannot claim a trusted
network's address with X-Forwarded-For.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from fastapi import Depends, Request

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.config import ApiKeySettings, Settings
from megatts3_server.errors import UnauthorizedError
from megatts3_server.ratelimit import Quota, RatePolicy, unlimited
from megatts3_server.tenancy import DEFAULT_TENANT, Caller, key_digest, tenant_of_key


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key")


def _matching_key(presented: str, keys: list[ApiKeySettings]) -> ApiKeySettings | None:
    # Compare against every key, always: the time taken says nothing about which key came close.
    found = None
    for entry in keys:
        if hmac.compare_digest(presented.encode(), entry.key.encode()):
            found = entry
    return found


def _from_trusted_network(request: Request, settings: Settings) -> bool:
    if not settings.api.trusted_networks or request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in settings.api.trusted_networks)


def _policy(settings: Settings, key: ApiKeySettings | None) -> RatePolicy | None:
    limits = settings.api.rate_limit
    if not limits.enabled or (key is not None and key.unlimited):
        return None
    return RatePolicy(
        requests_per_minute=(key.requests_per_minute if key else None) or limits.requests_per_minute,
        burst_size=(key.burst_size if key else None) or limits.burst_size,
    )


def _bucket(request: Request, key: ApiKeySettings | None) -> str:
    """Who a request counts against: its API key (hashed) when it has one, else its address."""
    if key is not None:
        return "key:" + key_digest(key.key)
    return "ip:" + (request.client.host if request.client else "unknown")


@dataclass(frozen=True)
class _Identity:
    trusted: bool
    """From api.trusted_networks: no key needed, no rate limit."""
    key: ApiKeySettings | None


async def _identify(request: Request, services: Services = Depends(get_services)) -> _Identity:
    """Authenticate the request once (FastAPI caches it per request): 401 without a valid key when
    keys are configured, unless it comes from a trusted network (where a valid key still names the
    tenant it acts for)."""
    settings = services.settings
    trusted = _from_trusted_network(request, settings)
    keys = settings.api.auth.all_keys()
    presented = _presented_key(request) if keys else None
    key = _matching_key(presented, keys) if presented is not None else None
    if keys and key is None and not trusted:
        raise UnauthorizedError("a valid API key is required (Authorization: Bearer <key>)")
    return _Identity(trusted=trusted, key=key)


async def current_caller(identity: _Identity = Depends(_identify)) -> Caller:
    """The tenant the request acts for: its key's, or the default one (no keys configured, a trusted
    network, an admin key; an admin also sees every tenant's)."""
    key = identity.key
    if key is None:
        return Caller(DEFAULT_TENANT)
    if key.admin:
        return Caller(DEFAULT_TENANT, admin=True)
    return Caller(tenant_of_key(key.key, key.name))


async def caller_quota(
    request: Request, identity: _Identity = Depends(_identify), services: Services = Depends(get_services)
) -> Quota:
    """Authenticate the request (when keys are configured) and name its caller's budget."""
    settings = services.settings
    if identity.trusted:
        return unlimited()
    key = identity.key
    policy = _policy(settings, key)
    if policy is None or services.rate_limiter is None:
        return unlimited()
    return Quota(services.rate_limiter, _bucket(request, key), policy)


async def checked_quota(quota: Quota = Depends(caller_quota)) -> Quota:
    """The caller's budget, refused with 429 before any work when it is already spent."""
    await quota.check()
    return quota


async def _charge_now(quota: Quota = Depends(caller_quota)) -> None:
    await quota.charge()


GUARDS = [Depends(caller_quota)]
"""Router dependencies: authentication (FastAPI runs caller_quota once a request, however often named)."""
CHARGED = [Depends(_charge_now)]
"""Route dependencies of cheap routes: the request is charged as soon as it is let in."""
