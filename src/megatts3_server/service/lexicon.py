"""The global lexicon (the configured file, then the entries stored through /api/v1/lexicon, which
win) and a request's own lexicon on top of it (which wins over both).

Stored entries live in the voice store, so every replica on one PostgreSQL reads the same lexicon;
a replica re-reads them in the background once they are older than ``refresh_seconds`` (requests go on
with the entries read last meanwhile), and at once after a change of its own.

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
    PayloadTooLargeError,
    ServiceError,
)
from megatts3_server.text.lexicon import Lexicon, lexicon_key
from megatts3_server.text.pronunciation import PronunciationError, check_word, parse_reading
from megatts3_server.voices import VoiceStoreInterface

log = logging.getLogger(__name__)

# A replica sees an entry another replica stored within this many seconds.
_REFRESH_SECONDS = 2.0
# How many request lexicons are kept parsed (the most recently used): a job's segments share one.
_PARSED_KEPT = 32


@dataclass(frozen=True)
class LexiconEntry:
    word: str
    reading: str
    source: str
    """"file" (the configured lexicon file) or "api" (stored through /api/v1/lexicon)."""


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


def _listing(file: Lexicon, stored: Lexicon) -> list[LexiconEntry]:
    listed = [LexiconEntry(word, reading, "api") for word, reading in stored.entries().items()]
    listed += [LexiconEntry(word, reading, "file") for word, reading in file.entries().items() if word not in stored]
    return sorted(listed, key=lambda entry: entry.word)


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


class LexiconService:
    def __init__(
        self,
        store: VoiceStoreInterface,
        file: Lexicon,
        limits: LexiconSettings | None = None,
        *,
        refresh_seconds: float = _REFRESH_SECONDS,
    ) -> None:
        self._store = store
        self._file = file
        self._limits = limits or LexiconSettings()
        self._refresh_seconds = refresh_seconds
        self._state: _State | None = None  # None: never read
        self._global = file  # the stored entries over the file's
        self._next_read = -math.inf
        self._refreshing = anyio.Lock()  # one read or change of the stored entries at a time
        self._background: asyncio.Task[None] | None = None
        self._parsed: OrderedDict[tuple[tuple[str, str], ...], Lexicon] = OrderedDict()
        self._listed: tuple[Lexicon, list[LexiconEntry]] | None = None

    def _settle(self, state: _State, read_seconds: float) -> None:
        self._state = state
        self._global = state.lexicon.over(self._file)
        # Reading again costs what this read cost: at most a tenth of the time goes to it.
        self._next_read = time.monotonic() + max(self._refresh_seconds, 10 * read_seconds)

    async def _refresh(self) -> None:
        """Read the stored entries again (in a worker thread)."""
        async with self._refreshing:
            began = time.monotonic()
            previous = self._state
            state = await anyio.to_thread.run_sync(self._read, previous)
            self._settle(state, time.monotonic() - began)

    def _read(self, previous: _State | None) -> _State:
        """The stored entries as read now; ``previous`` itself when they are unchanged (a worker thread)."""
        raw = self._store.lexicon()
        if previous is not None and raw == previous.raw:  # unchanged: the same lexicon objects go on
            return previous
        return _State.of(raw, previous.checked if previous else {})

    async def _refresh_quietly(self) -> None:
        try:
            await self._refresh()
        except ServiceError as exc:  # the store cannot be read now: the lexicon read last goes on
            log.warning("the stored lexicon could not be read again: %s", exc.message)
            self._next_read = time.monotonic() + self._refresh_seconds
        finally:
            self._background = None

    async def current(self) -> Lexicon:
        """The global lexicon: the file's entries, the stored ones winning. Read on first use; kept up
        to date by the changes made here; read again in the background once older than
        refresh_seconds (or ten times what the last read took) while requests go on with it, so that
        no request waits for a read of a large lexicon, and another replica's change is seen soon."""
        if self._state is None:
            await self._refresh()
        elif time.monotonic() > self._next_read and self._background is None:
            self._background = asyncio.get_running_loop().create_task(self._refresh_quietly())
        return self._global

    async def for_request(self, entries: Mapping[str, str] | None) -> Lexicon:
        """The lexicon one request reads with: ``entries`` over the global one (422 names a bad
        entry; 413 when they are more than api.lexicon allows)."""
        base = await self.current()
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

    async def entries(self) -> list[LexiconEntry]:
        """Every entry, stored and from the file, by word (the same list while the lexicon is the same)."""
        current = await self.current()
        if self._listed is None or self._listed[0] is not current:
            assert self._state is not None
            self._listed = (current, await anyio.to_thread.run_sync(_listing, self._file, self._state.lexicon))
        return self._listed[1]

    async def put(self, entries: Mapping[str, str]) -> list[LexiconEntry]:
        """Store ``entries`` (all checked first: none stored if one is bad), each replacing the stored
        entry of its key, however that one was spelled; the entries as stored."""
        parsed = (await anyio.to_thread.run_sync(_parse, dict(entries), "lexicon entry")).entries()
        await self.current()
        async with self._refreshing:
            began = time.monotonic()
            assert self._state is not None
            state = await anyio.to_thread.run_sync(self._put, self._state, parsed)
            self._settle(state, time.monotonic() - began)
        return [LexiconEntry(word, reading, "api") for word, reading in parsed.items()]

    def _put(self, state: _State, entries: dict[str, str]) -> _State:
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
        self._store.put_lexicon(entries)
        for word in replaced:  # after the put: a failure here leaves two spellings, never none
            self._store.delete_lexicon(word)
        raw = {word: value for word, value in state.raw.items() if word not in replaced} | entries
        return _State.of(raw, state.checked)

    async def delete(self, word: str) -> None:
        """Remove the stored entry of ``word``'s key (any spelling); 404 when there is none."""
        try:
            word = check_word(word)
        except PronunciationError as exc:
            raise InvalidPronunciationError(f"not a lexicon word: {exc}", details={"entry": exc.word}) from None
        await self.current()
        async with self._refreshing:
            began = time.monotonic()
            assert self._state is not None
            state, removed = await anyio.to_thread.run_sync(self._delete, self._state, word)
            self._settle(state, time.monotonic() - began)
        if not removed:
            hint = " (it comes from model.lexicon_file: change the file)" if word in self._file else ""
            raise LexiconEntryNotFoundError(f"no stored lexicon entry {word!r}{hint}")

    def _delete(self, state: _State, word: str) -> tuple[_State, bool]:
        """Remove every stored spelling of ``word``'s key: the state after, and whether one was (a worker thread)."""
        key = lexicon_key(word)
        spellings = [stored for stored in state.raw if lexicon_key(stored) == key] or [word]
        removed = [stored for stored in spellings if self._store.delete_lexicon(stored)]
        if not removed:
            return state, False
        raw = {stored: value for stored, value in state.raw.items() if stored not in removed}
        return _State.of(raw, state.checked), True
