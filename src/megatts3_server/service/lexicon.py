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
from megatts3_server.text.pronunciation import PronunciationError, Reading, check_word, parse_reading
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


# word -> (the reading as stored, parsed): kept between reads, so that an unchanged entry is not parsed again.
_Readings = dict[str, tuple[str, Reading]]


def _stored_readings(raw: Mapping[str, str], known: _Readings) -> _Readings:
    """word -> (its reading text, parsed) of the stored entries, an entry unchanged since ``known``
    reused as it was parsed; an entry a newer rule refuses is skipped (and said)."""
    readings = {}
    for word, value in raw.items():
        previous = known.get(word)
        if previous is not None and previous[0] == value:
            readings[word] = previous
            continue
        try:
            readings[check_word(word)] = (value, parse_reading(word, value))
        except PronunciationError as exc:  # checked when it was put: a rule this release added
            log.warning("stored lexicon entry skipped: %s", exc)
    return readings


def _listing(file: Lexicon, stored: Lexicon) -> list[LexiconEntry]:
    listed = [LexiconEntry(word, reading, "api") for word, reading in stored.entries().items()]
    listed += [LexiconEntry(word, reading, "file") for word, reading in file.entries().items() if word not in stored]
    return sorted(listed, key=lambda entry: entry.word)


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
        self._stored = Lexicon()
        self._raw: dict[str, str] | None = None  # None: never read
        self._readings: _Readings = {}
        self._global = file  # the stored entries over the file's
        self._read_at = -math.inf
        self._refreshing = anyio.Lock()
        self._background: asyncio.Task[None] | None = None
        self._parsed: OrderedDict[tuple[tuple[str, str], ...], Lexicon] = OrderedDict()

    async def _refresh(self) -> None:
        """Read the stored entries again (in a worker thread; one read at a time)."""
        async with self._refreshing:
            read = await anyio.to_thread.run_sync(self._read, self._raw, self._readings)
            if read is not None:
                self._raw, self._readings, self._stored = read
                self._global = self._stored.over(self._file)
            self._read_at = time.monotonic()

    async def _refresh_quietly(self) -> None:
        try:
            await self._refresh()
        except ServiceError as exc:  # the store cannot be read now: the lexicon read last goes on
            log.warning("the stored lexicon could not be read again: %s", exc.message)
            self._read_at = time.monotonic()
        finally:
            self._background = None

    def _read(
        self, previous: dict[str, str] | None, known: _Readings
    ) -> tuple[dict[str, str], _Readings, Lexicon] | None:
        """(raw entries, their readings, their lexicon), or None when they are ``previous`` (a worker thread)."""
        raw = self._store.lexicon()
        if previous is not None and raw == previous:  # unchanged: the same lexicon objects go on
            return None
        readings = _stored_readings(raw, known)
        return raw, readings, Lexicon({word: reading for word, (_, reading) in readings.items()})

    async def current(self) -> Lexicon:
        """The global lexicon: the file's entries, the stored ones winning. Read on first use and after
        a change made here; otherwise a lexicon older than refresh_seconds is read again in the
        background while requests go on with it (no request waits for a read of a large lexicon)."""
        if self._raw is None:
            await self._refresh()
        elif time.monotonic() - self._read_at > self._refresh_seconds and self._background is None:
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
        await self.current()
        return await anyio.to_thread.run_sync(_listing, self._file, self._stored)

    async def put(self, entries: Mapping[str, str]) -> list[LexiconEntry]:
        """Store ``entries`` (all checked first: none stored if one is bad), each replacing the stored
        entry of its key, however that one was spelled; the entries as stored."""
        parsed = (await anyio.to_thread.run_sync(_parse, dict(entries), "lexicon entry")).entries()
        await anyio.to_thread.run_sync(self._store_entries, parsed)
        await self._refresh()  # the next request reads with them
        return [LexiconEntry(word, reading, "api") for word, reading in parsed.items()]

    def _store_entries(self, entries: dict[str, str]) -> None:
        """Put ``entries`` and remove the other spellings of their keys (a worker thread)."""
        raw = self._store.lexicon()
        keys = {lexicon_key(word) for word in entries}
        replaced = [word for word in raw if word not in entries and lexicon_key(word) in keys]
        total = len(raw) - len(replaced) + sum(word not in raw for word in entries)
        if total > self._limits.max_stored_entries:
            raise PayloadTooLargeError(
                f"the lexicon would hold {total} stored entries; it may hold {self._limits.max_stored_entries} "
                "(api.lexicon.max_stored_entries)",
                code="lexicon_too_large",
            )
        self._store.put_lexicon(entries)
        for word in replaced:  # after the put: a failure here leaves two spellings, never none
            self._store.delete_lexicon(word)

    async def delete(self, word: str) -> None:
        """Remove the stored entry of ``word``'s key (any spelling); 404 when there is none."""
        try:
            word = check_word(word)
        except PronunciationError as exc:
            raise InvalidPronunciationError(f"not a lexicon word: {exc}", details={"entry": exc.word}) from None
        removed = await anyio.to_thread.run_sync(self._delete_key, word)
        await self._refresh()
        if not removed:
            hint = " (it comes from model.lexicon_file: change the file)" if word in self._file else ""
            raise LexiconEntryNotFoundError(f"no stored lexicon entry {word!r}{hint}")

    def _delete_key(self, word: str) -> bool:
        if self._store.delete_lexicon(word):
            return True
        key = lexicon_key(word)
        spellings = [stored for stored in self._store.lexicon() if lexicon_key(stored) == key]
        return any([self._store.delete_lexicon(stored) for stored in spellings])
