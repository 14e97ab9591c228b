"""The lexicon a request reads with, each layer winning over the one before: the configured file, the
shared stored entries, the caller's tenant's own stored entries, and the request's own lexicon.

Entries stored through /api/v1/lexicon belong to the tenant that stored them (tenancy.py). The
default tenant's (with no keys configured: everyone's; else what admins, trusted networks and the
store before tenancy stored) are shared: every tenant reads them, under its own. An admin manages
the shared entries, or any tenant's when it names one (``owner``). Stored entries live in the voice
store, so every replica on one PostgreSQL reads the same ones; a replica re-reads a tenant's at most
every ``refresh_seconds``, and at once after a change of its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import yaml

from megatts3_server.errors import (
    ConfigError,
    InvalidPronunciationError,
    LexiconEntryNotFoundError,
    OwnerNotFoundError,
)
from megatts3_server.tenancy import DEFAULT_TENANT, Caller
from megatts3_server.text.pronunciation import Lexicon, PronunciationError, check_word, parse_reading
from megatts3_server.voices import VoiceStoreInterface

log = logging.getLogger(__name__)

# A replica sees an entry another replica stored within this many seconds.
_REFRESH_SECONDS = 2.0
# How many request lexicons are kept merged over their tenant's (the most recently used).
_MERGED_KEPT = 32
# How many tenants' stored entries are kept read (the most recently used).
_TENANTS_KEPT = 64


@dataclass(frozen=True)
class LexiconEntry:
    word: str
    reading: str
    source: str
    """"file" (the configured lexicon file), "api" (stored through /api/v1/lexicon by the tenant
    listing them) or "shared" (stored by an admin: read by every tenant)."""


@dataclass
class _TenantEntries:
    """One tenant's stored entries as last read, and the lexicon its requests read, made from them."""

    raw: dict[str, str]
    stored: Lexicon
    read_at: float
    base: Lexicon | None = None
    base_over: Lexicon | None = field(default=None, repr=False)
    """The shared entries ``base`` was made over (another object once they change)."""


def load_lexicon_file(path: Path | None) -> Lexicon:
    """The lexicon of a YAML or JSON mapping file; ConfigError names a bad file or entry."""
    if path is None:
        return Lexicon()
    try:
        text = path.read_text(encoding="utf-8")
        entries = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"model.lexicon_file {path}: cannot be read: {exc}") from None
    entries = entries or {}
    if not isinstance(entries, dict) or not all(isinstance(value, str) for value in entries.values()):
        raise ConfigError(f"model.lexicon_file {path}: must map each word to its reading, as 重庆: chong2 qing4")
    try:
        return Lexicon.parse({str(word): value for word, value in entries.items()})
    except PronunciationError as exc:
        raise ConfigError(f"model.lexicon_file {path}: {exc}") from None


def _parse(entries: Mapping[str, str], what: str) -> Lexicon:
    try:
        return Lexicon.parse(entries)
    except PronunciationError as exc:
        raise InvalidPronunciationError(f"{what}: {exc}", details={"entry": exc.word}) from None


class LexiconService:
    def __init__(self, store: VoiceStoreInterface, file: Lexicon, *, refresh_seconds: float = _REFRESH_SECONDS) -> None:
        self._store = store
        self._file = file
        self._refresh_seconds = refresh_seconds
        self._tenants: OrderedDict[str, _TenantEntries] = OrderedDict()
        # A request lexicon merged over its tenant's, by tenant and entries: a job's segments all carry
        # the job's lexicon, which is parsed and merged once, not once per segment.
        self._merged: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], tuple[Lexicon, Lexicon]] = OrderedDict()

    async def _entries_of(self, tenant: str) -> _TenantEntries:
        held = self._tenants.get(tenant)
        if held is None or time.monotonic() - held.read_at > self._refresh_seconds:
            raw = await anyio.to_thread.run_sync(self._store.lexicon, tenant)
            if held is not None and raw == held.raw:  # unchanged: the same objects (and merges)
                held.read_at = time.monotonic()
            else:
                held = _TenantEntries(raw, _parse_stored(raw), time.monotonic())
            self._tenants[tenant] = held
        self._tenants.move_to_end(tenant)
        while len(self._tenants) > _TENANTS_KEPT:
            self._tenants.popitem(last=False)
        return held

    async def current(self, tenant: str) -> Lexicon:
        """The lexicon ``tenant``'s requests read: the file's entries, the shared stored ones winning,
        then its own (made, and compiled, once per change of any of them)."""
        shared = (await self._entries_of(DEFAULT_TENANT)).stored
        own = await self._entries_of(tenant)
        if own.base is None or own.base_over is not shared:
            base = self._file.merged(shared)
            own.base, own.base_over = (base if tenant == DEFAULT_TENANT else base.merged(own.stored)), shared
        return own.base

    async def for_request(self, entries: Mapping[str, str] | None, tenant: str) -> Lexicon:
        """The lexicon one request of ``tenant``'s reads with: its tenant's, ``entries`` winning (422
        names a bad one)."""
        base = await self.current(tenant)
        if not entries:
            return base
        key = (tenant, tuple(sorted(entries.items())))
        made = self._merged.get(key)
        if made is not None and made[0] is base:  # merged over this very lexicon
            self._merged.move_to_end(key)
            return made[1]
        merged = base.merged(_parse(entries, "lexicon entry"))
        self._merged[key] = (base, merged)
        if len(self._merged) > _MERGED_KEPT:
            self._merged.popitem(last=False)
        return merged

    @staticmethod
    def tenant_for(caller: Caller, owner: str | None) -> str:
        """Whose stored entries a request manages: its own tenant's, or (an admin only) ``owner``'s.
        Anyone else naming another owner gets 404, whether or not that owner exists."""
        if owner is None or owner == caller.tenant:
            return caller.tenant
        if not caller.admin:
            raise OwnerNotFoundError(f"no lexicon of owner {owner!r}")
        return owner

    async def entries(self, caller: Caller, owner: str | None = None) -> list[LexiconEntry]:
        """What the tenant's requests read, each word once with the entry that wins."""
        tenant = self.tenant_for(caller, owner)
        layers = [(self._file.entries().items(), "file")]
        if tenant != DEFAULT_TENANT:
            layers.append(((await self._entries_of(DEFAULT_TENANT)).stored.entries().items(), "shared"))
        layers.append(((await self._entries_of(tenant)).stored.entries().items(), "api"))
        listed = {word: LexiconEntry(word, reading, source) for items, source in layers for word, reading in items}
        return sorted(listed.values(), key=lambda entry: entry.word)

    async def put(self, entries: Mapping[str, str], caller: Caller, owner: str | None = None) -> list[LexiconEntry]:
        """Store ``entries`` as the tenant's (all checked first: none stored if one is bad); the entries as stored."""
        tenant = self.tenant_for(caller, owner)
        parsed = _parse(entries, "lexicon entry").entries()
        await anyio.to_thread.run_sync(self._store.put_lexicon, parsed, tenant)
        self._tenants.pop(tenant, None)
        return [LexiconEntry(word, reading, "api") for word, reading in parsed.items()]

    async def delete(self, word: str, caller: Caller, owner: str | None = None) -> None:
        """Remove one of the tenant's stored entries (404 when it has none for ``word``)."""
        tenant = self.tenant_for(caller, owner)
        try:
            word = check_word(word)
        except PronunciationError:
            raise LexiconEntryNotFoundError(f"no lexicon entry {word!r}") from None
        removed = await anyio.to_thread.run_sync(self._store.delete_lexicon, word, tenant)
        self._tenants.pop(tenant, None)
        if not removed:
            hint = " (it comes from model.lexicon_file: change the file)" if word in self._file.entries() else ""
            raise LexiconEntryNotFoundError(f"no stored lexicon entry {word!r}{hint}")


def _parse_stored(raw: Mapping[str, str]) -> Lexicon:
    readings = {}
    for word, value in raw.items():
        try:
            readings[check_word(word)] = parse_reading(word, value)
        except PronunciationError as exc:  # checked when it was put: a rule this release added
            log.warning("stored lexicon entry skipped: %s", exc)
    return Lexicon(readings)
