"""The lexicon a request reads with, each layer winning over the one before: the configured file, the
shared stored entries, the caller's tenant's own stored entries, and the request's own lexicon.

Entries stored through /api/v1/lexicon belong to the tenant that stored them (tenancy.py). The
default tenant's (with no keys configured: everyone's; else what admins, trusted networks and the
store before tenancy stored) are shared: every tenant reads them, under its own. An admin manages
the shared entries, or any tenant's when it names one (``owner``). Stored entries live in the voice
store, so every replica on one PostgreSQL reads the same ones; a replica re-reads a tenant's in the
background once they are older than ``refresh_seconds`` (requests go on with the entries read last
meanwhile), and at once after a change of its own.

Nothing here that grows with the lexicon runs on the event loop: reading and parsing the stored
entries, listing them, checking a PUT, parsing a request's entries all run in a worker thread, one
refresh at a time. A request's lexicon is stacked over the global one (text/lexicon.py), never
merged into a copy of it, so it costs its own entries (bounded by api.lexicon), not the global size.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import yaml

from megatts3_server.config import LexiconSettings
from megatts3_server.errors import (
    ConfigError,
    InvalidPronunciationError,
    LexiconEntryNotFoundError,
    OwnerNotFoundError,
    PayloadTooLargeError,
    ServiceError,
)
from megatts3_server.lexicon_store import LexiconStore
from megatts3_server.tenancy import DEFAULT_TENANT, Caller
from megatts3_server.text.lexicon import Lexicon, lexicon_key
from megatts3_server.text.pronunciation import PronunciationError, check_word, parse_reading

log = logging.getLogger(__name__)

# A replica sees an entry another replica stored within this many seconds.
_REFRESH_SECONDS = 2.0
# How many request lexicons are kept parsed (the most recently used): a job's segments share one.
_PARSED_KEPT = 32
# How many tenants' stored entries are kept read (the most recently used).
_TENANTS_KEPT = 64


@dataclass(frozen=True)
class LexiconEntry:
    word: str
    reading: str
    source: str
    """"file" (the configured lexicon file), "api" (stored through /api/v1/lexicon by the tenant
    listing them) or "shared" (stored by an admin: read by every tenant)."""


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


def _stored_readings(raw: Mapping[str, str], known: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """word -> (its value as stored, its reading as checked) of the stored entries; an entry whose value
    is the one ``known`` checked is not parsed again, and one a newer rule refuses is skipped (and said).
    Strings only: the cyclic garbage collector never walks them."""
    readings = {}
    for word, value in raw.items():
        previous = known.get(word)
        if previous is not None and previous[0] == value:
            readings[word] = previous
            continue
        try:
            readings[check_word(word)] = (value, str(parse_reading(word, value)))
        except PronunciationError as exc:  # checked when it was put: a rule this release added
            log.warning("stored lexicon entry skipped: %s", exc)
    return readings


def _listing(layers: list[tuple[Lexicon, str]]) -> list[LexiconEntry]:
    """Each word once, with the entry of the last layer that has its key (layers from the bottom up)."""
    listed: dict[str, LexiconEntry] = {}
    for lexicon, source in layers:
        for word, reading in lexicon.entries().items():
            key = lexicon_key(word)
            listed.pop(key, None)
            listed[key] = LexiconEntry(word, reading, source)
    return sorted(listed.values(), key=lambda entry: entry.word)


@dataclass(frozen=True)
class _State:
    """What was read of the stored entries: raw (word -> value), checked (word -> (value, reading)),
    and their lexicon."""

    raw: dict[str, str]
    checked: dict[str, tuple[str, str]]
    lexicon: Lexicon

    @classmethod
    def of(cls, raw: dict[str, str], known: dict[str, tuple[str, str]]) -> _State:
        checked = _stored_readings(raw, known)
        return cls(raw, checked, Lexicon({word: reading for word, (_, reading) in checked.items()}))


class _Tenant:
    """One tenant's stored entries: as read last, when to read them again, one read or change at a time,
    and what was made of them (kept while they and the layers below are the same objects)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state: _State | None = None  # None: never read
        self.next_read = -math.inf
        self.lock = anyio.Lock()
        self.background: asyncio.Task[None] | None = None
        self.stack: tuple[Lexicon, Lexicon, Lexicon] | None = None  # (own, below, own over below)
        self.listed: tuple[Lexicon, list[LexiconEntry]] | None = None

    @property
    def lexicon(self) -> Lexicon:
        assert self.state is not None
        return self.state.lexicon


class LexiconService:
    def __init__(
        self,
        store: LexiconStore,
        file: Lexicon,
        limits: LexiconSettings | None = None,
        *,
        refresh_seconds: float = _REFRESH_SECONDS,
    ) -> None:
        self._store = store
        self._file = file
        self._limits = limits or LexiconSettings()
        self._refresh_seconds = refresh_seconds
        self._tenants: OrderedDict[str, _Tenant] = OrderedDict()
        self._shared_over_file: tuple[Lexicon, Lexicon] | None = None
        self._parsed: OrderedDict[tuple[tuple[str, str], ...], Lexicon] = OrderedDict()

    def _settle(self, held: _Tenant, state: _State, read_seconds: float) -> None:
        held.state = state
        # Reading again costs what this read cost: at most a tenth of the time goes to it.
        held.next_read = time.monotonic() + max(self._refresh_seconds, 10 * read_seconds)

    async def _refresh(self, held: _Tenant) -> None:
        """Read the tenant's stored entries again (in a worker thread)."""
        async with held.lock:
            began = time.monotonic()
            state = await anyio.to_thread.run_sync(self._read, held.name, held.state)
            self._settle(held, state, time.monotonic() - began)

    def _read(self, tenant: str, previous: _State | None) -> _State:
        """The stored entries as read now; ``previous`` itself when they are unchanged (a worker thread)."""
        raw = self._store.lexicon(tenant)
        if previous is not None and raw == previous.raw:  # unchanged: the same lexicon objects go on
            return previous
        return _State.of(raw, previous.checked if previous else {})

    async def _refresh_quietly(self, held: _Tenant) -> None:
        try:
            await self._refresh(held)
        except ServiceError as exc:  # the store cannot be read now: the lexicon read last goes on
            log.warning("the stored lexicon could not be read again: %s", exc.message)
            held.next_read = time.monotonic() + self._refresh_seconds
        finally:
            held.background = None

    async def _held(self, tenant: str) -> _Tenant:
        """``tenant``'s stored entries: read on first use; kept up to date by the changes made here; read
        again in the background once older than refresh_seconds (or ten times what the last read took)
        while requests go on with them, so that no request waits for a read of a large lexicon, and
        another replica's change is seen soon."""
        held = self._tenants.get(tenant)
        if held is None:
            held = self._tenants[tenant] = _Tenant(tenant)
        self._tenants.move_to_end(tenant)
        while len(self._tenants) > _TENANTS_KEPT:
            self._tenants.popitem(last=False)
        if held.state is None:
            await self._refresh(held)
        elif time.monotonic() > held.next_read and held.background is None:
            held.background = asyncio.get_running_loop().create_task(self._refresh_quietly(held))
        return held

    async def current(self, tenant: str) -> Lexicon:
        """The lexicon ``tenant``'s requests read: the file's entries, the shared stored ones winning,
        then its own (stacked once per change of any of them)."""
        shared = (await self._held(DEFAULT_TENANT)).lexicon
        made = self._shared_over_file
        if made is None or made[0] is not shared:
            made = self._shared_over_file = (shared, shared.over(self._file))
        below = made[1]
        if tenant == DEFAULT_TENANT:
            return below
        held = await self._held(tenant)
        stack = held.stack
        if stack is None or stack[0] is not held.lexicon or stack[1] is not below:
            stack = held.stack = (held.lexicon, below, held.lexicon.over(below))
        return stack[2]

    async def for_request(self, entries: Mapping[str, str] | None, tenant: str) -> Lexicon:
        """The lexicon one request of ``tenant``'s reads with: ``entries`` over its tenant's (422 names a
        bad entry; 413 when they are more than api.lexicon allows)."""
        base = await self.current(tenant)
        if not entries:
            return base
        return (await self._request_lexicon(entries)).over(base)

    async def _request_lexicon(self, entries: Mapping[str, str]) -> Lexicon:
        limits = self._limits
        size = sum(len(word) + len(reading) for word, reading in entries.items())
        if len(entries) > limits.max_request_entries or size > limits.max_request_chars:
            raise PayloadTooLargeError(
                f"the request's lexicon has {len(entries)} entries of {size} characters; one request may bring "
                f"{limits.max_request_entries} entries of {limits.max_request_chars} characters "
                "(api.lexicon.max_request_entries, max_request_chars); store common words with PUT /api/v1/lexicon",
                code="lexicon_too_large",
            )
        key = tuple(entries.items())
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = await anyio.to_thread.run_sync(_parse, dict(entries), "lexicon entry")
            self._parsed[key] = parsed
            if len(self._parsed) > _PARSED_KEPT:
                self._parsed.popitem(last=False)
        self._parsed.move_to_end(key)
        return parsed

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
        """What the tenant's requests read, each word once with the entry that wins (the same list
        while its lexicon is the same)."""
        tenant = self.tenant_for(caller, owner)
        current = await self.current(tenant)
        held = await self._held(tenant)
        if held.listed is None or held.listed[0] is not current:
            layers = [(self._file, "file")]
            if tenant != DEFAULT_TENANT:
                layers.append(((await self._held(DEFAULT_TENANT)).lexicon, "shared"))
            layers.append((held.lexicon, "api"))
            held.listed = (current, await anyio.to_thread.run_sync(_listing, layers))
        return held.listed[1]

    async def put(self, entries: Mapping[str, str], caller: Caller, owner: str | None = None) -> list[LexiconEntry]:
        """Store ``entries`` as the tenant's (all checked first: none stored if one is bad), each
        replacing the tenant's stored entry of its key, however that one was spelled; the entries as stored."""
        tenant = self.tenant_for(caller, owner)
        parsed = (await anyio.to_thread.run_sync(_parse, dict(entries), "lexicon entry")).entries()
        held = await self._held(tenant)
        async with held.lock:
            began = time.monotonic()
            assert held.state is not None
            state = await anyio.to_thread.run_sync(self._put, tenant, held.state, parsed)
            self._settle(held, state, time.monotonic() - began)
        return [LexiconEntry(word, reading, "api") for word, reading in parsed.items()]

    def _put(self, tenant: str, state: _State, entries: dict[str, str]) -> _State:
        """Put ``entries``, remove the other spellings of their keys; the state after (a worker thread)."""
        keys = {lexicon_key(word) for word in entries}
        replaced = [word for word in state.raw if word not in entries and lexicon_key(word) in keys]
        total = len(state.raw) - len(replaced) + sum(word not in state.raw for word in entries)
        if total > self._limits.max_stored_entries:
            raise PayloadTooLargeError(
                f"the lexicon would hold {total} stored entries; it may hold {self._limits.max_stored_entries} "
                "(api.lexicon.max_stored_entries)",
                code="lexicon_too_large",
            )
        self._store.put_lexicon(entries, tenant)
        for word in replaced:  # after the put: a failure here leaves two spellings, never none
            self._store.delete_lexicon(word, tenant)
        raw = {word: value for word, value in state.raw.items() if word not in replaced} | entries
        return _State.of(raw, state.checked)

    async def delete(self, word: str, caller: Caller, owner: str | None = None) -> None:
        """Remove the tenant's stored entry of ``word``'s key (any spelling); 404 when there is none."""
        tenant = self.tenant_for(caller, owner)
        try:
            word = check_word(word)
        except PronunciationError as exc:
            raise InvalidPronunciationError(f"not a lexicon word: {exc}", details={"entry": exc.word}) from None
        held = await self._held(tenant)
        async with held.lock:
            began = time.monotonic()
            assert held.state is not None
            state, removed = await anyio.to_thread.run_sync(self._delete, tenant, held.state, word)
            self._settle(held, state, time.monotonic() - began)
        if not removed:
            hint = " (it comes from model.lexicon_file: change the file)" if word in self._file else ""
            raise LexiconEntryNotFoundError(f"no stored lexicon entry {word!r}{hint}")

    def _delete(self, tenant: str, state: _State, word: str) -> tuple[_State, bool]:
        """Remove every stored spelling of ``word``'s key: the state after, and whether one was (a worker thread)."""
        key = lexicon_key(word)
        spellings = [stored for stored in state.raw if lexicon_key(stored) == key] or [word]
        removed = [stored for stored in spellings if self._store.delete_lexicon(stored, tenant)]
        if not removed:
            return state, False
        raw = {stored: value for stored, value in state.raw.items() if stored not in removed}
        return _State.of(raw, state.checked), True
