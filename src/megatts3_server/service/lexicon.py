"""The global lexicon (the configured file, then the entries stored through /api/v1/lexicon, which
win) and a request's own lexicon on top of it (which wins over both).

Stored entries live in the voice store, so every replica on one PostgreSQL reads the same lexicon;
a replica re-reads them at most every ``refresh_seconds``, and at once after a change of its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import yaml

from megatts3_server.errors import ConfigError, InvalidPronunciationError, LexiconEntryNotFoundError
from megatts3_server.text.pronunciation import Lexicon, PronunciationError, check_word, parse_reading
from megatts3_server.voices import VoiceStoreInterface

log = logging.getLogger(__name__)

# A replica sees an entry another replica stored within this many seconds.
_REFRESH_SECONDS = 2.0
# How many request lexicons are kept merged over the global one (the most recently used).
_MERGED_KEPT = 32


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


class LexiconService:
    def __init__(self, store: VoiceStoreInterface, file: Lexicon, *, refresh_seconds: float = _REFRESH_SECONDS) -> None:
        self._store = store
        self._file = file
        self._refresh_seconds = refresh_seconds
        self._stored: Lexicon | None = None
        self._raw: dict[str, str] = {}
        # A request lexicon merged over the global one, by its entries: a job's segments all carry
        # the job's lexicon, which is parsed and merged once, not once per segment.
        self._merged: OrderedDict[tuple[tuple[str, str], ...], tuple[Lexicon, Lexicon]] = OrderedDict()
        self._global = file  # the file's entries with the stored ones, made (and compiled) once per read
        self._read_at = 0.0

    async def _stored_entries(self) -> Lexicon:
        if self._stored is None or time.monotonic() - self._read_at > self._refresh_seconds:
            raw = await anyio.to_thread.run_sync(self._store.lexicon)
            if self._stored is not None and raw == self._raw:  # unchanged: the same objects (and merges)
                self._read_at = time.monotonic()
                return self._stored
            readings = {}
            for word, value in raw.items():
                try:
                    readings[check_word(word)] = parse_reading(word, value)
                except PronunciationError as exc:  # checked when it was put: a rule this release added
                    log.warning("stored lexicon entry skipped: %s", exc)
            self._stored, self._raw, self._read_at = Lexicon(readings), raw, time.monotonic()
            self._global = self._file.merged(self._stored)
        return self._stored

    async def current(self) -> Lexicon:
        """The global lexicon: the file's entries, the stored ones winning."""
        await self._stored_entries()
        return self._global

    async def for_request(self, entries: Mapping[str, str] | None) -> Lexicon:
        """The lexicon one request reads with: the global one, ``entries`` winning (422 names a bad one)."""
        base = await self.current()
        if not entries:
            return base
        key = tuple(sorted(entries.items()))
        made = self._merged.get(key)
        if made is not None and made[0] is base:  # merged over this very global lexicon
            self._merged.move_to_end(key)
            return made[1]
        merged = base.merged(_parse(entries, "lexicon entry"))
        self._merged[key] = (base, merged)
        if len(self._merged) > _MERGED_KEPT:
            self._merged.popitem(last=False)
        return merged

    async def entries(self) -> list[LexiconEntry]:
        stored = (await self._stored_entries()).entries()
        listed = [LexiconEntry(word, reading, "file") for word, reading in self._file.entries().items()]
        listed = [entry for entry in listed if entry.word not in stored]
        listed += [LexiconEntry(word, reading, "api") for word, reading in stored.items()]
        return sorted(listed, key=lambda entry: entry.word)

    async def put(self, entries: Mapping[str, str]) -> list[LexiconEntry]:
        """Store ``entries`` (all checked first: none stored if one is bad); the entries as stored."""
        parsed = _parse(entries, "lexicon entry").entries()
        await anyio.to_thread.run_sync(self._store.put_lexicon, parsed)
        self._stored = None
        return [LexiconEntry(word, reading, "api") for word, reading in parsed.items()]

    async def delete(self, word: str) -> None:
        try:
            word = check_word(word)
        except PronunciationError:
            raise LexiconEntryNotFoundError(f"no lexicon entry {word!r}") from None
        removed = await anyio.to_thread.run_sync(self._store.delete_lexicon, word)
        self._stored = None
        if not removed:
            hint = " (it comes from model.lexicon_file: change the file)" if word in self._file.entries() else ""
            raise LexiconEntryNotFoundError(f"no stored lexicon entry {word!r}{hint}")
