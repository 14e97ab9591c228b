"""Who owns what is stored: each API key's tenant owns the voices, jobs and lexicon entries it creates.

With no keys configured every caller is the default tenant (one tenant, as before tenancy existed);
so are callers from ``api.trusted_networks``, admin keys and the data stored before tenancy (migrated
to it). A tenant sees only what it owns; an admin sees and manages what every tenant owns. Built-in
voices and ``model.lexicon_file`` belong to nobody: everyone reads them, and the default tenant's
stored lexicon entries are shared the same way (docs/api.md "Tenants").

A tenant id is stable and never the key itself: ``key:<name>`` for a key configured with a name (so
a rotated key keeps its data by keeping its name), else ``key:sha256:<first 16 hex digits>``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEFAULT_TENANT = "default"
"""The tenant of unkeyed callers, admins and everything stored before tenancy."""


def key_digest(key: str) -> str:
    """A short, stable name of a key that does not reveal it (tenant ids, rate-limit buckets)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def tenant_of_key(key: str, name: str = "") -> str:
    """The tenant a (non-admin) key acts for: its configured name, else a digest of the key."""
    return f"key:{name}" if name else f"key:sha256:{key_digest(key)}"


@dataclass(frozen=True)
class Caller:
    """Whose request this is: the tenant it stores for and reads as, and whether it is an admin."""

    tenant: str = DEFAULT_TENANT
    admin: bool = False

    def sees(self, tenant: str) -> bool:
        """Whether this caller may read, use, cancel or delete what ``tenant`` owns."""
        return self.admin or tenant == self.tenant

    @property
    def only(self) -> str | None:
        """The one tenant whose things this caller may touch (a store's filter); None for an admin: all."""
        return None if self.admin else self.tenant
