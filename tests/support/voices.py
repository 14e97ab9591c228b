"""Stored voices for the voice-store and enrollment tests, built in one place, and the stores they
run on: SQLite + files, and PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from megatts3_server.audio import write_wav
from megatts3_server.lexicon_store import LexiconStore
from megatts3_server.storage.schema_sqlite import CATALOGUE, CATALOGUE_FILE
from megatts3_server.storage.sqlite import SQLiteDatabase
from megatts3_server.voices import (
    NewVoiceFiles,
    PostgresVoiceStore,
    StoredVoice,
    VoiceStore,
    VoiceStoreInterface,
    now_iso,
)

RATE = 24_000
STORE_BACKENDS = ("sqlite", "postgres")
"""Parameters of a store fixture that runs its tests on both backends (see backend_store)."""


def stored_voice(voice_id: str, **fields: Any) -> StoredVoice:
    """A two-second uploaded voice's record (``fields`` override any of its values)."""
    voice = StoredVoice(
        id=voice_id,
        name=voice_id,
        description="",
        type="uploaded",
        engine="test",
        created_at=now_iso(),
        duration=2.0,
        sample_rate=RATE,
        source_format="wav",
        content_sha256="0" * 64,
        has_latent=False,
    )
    return dataclasses.replace(voice, **fields)


def silent_reference() -> NewVoiceFiles:
    """Files of a voice whose reference is two seconds of silence (what the store keeps, not speech)."""
    return NewVoiceFiles(write_wav(np.zeros(2 * RATE, np.float32), RATE))


def sqlite_lexicon(folder: Path) -> LexiconStore:
    """A lexicon store on the voices database in ``folder``, with a database object of its own (as a
    process that opened no voice store has)."""
    return LexiconStore(SQLiteDatabase(folder / CATALOGUE_FILE, CATALOGUE))


def opened_store(folder: Path) -> VoiceStore:
    store = VoiceStore(folder)
    store.open()
    return store


def backend_store(request: pytest.FixtureRequest, folder: Path) -> VoiceStoreInterface:
    """An opened store of the backend ``request.param`` (one of STORE_BACKENDS), closed after the test:
    SQLite in ``folder``, or PostgreSQL in a fresh database."""
    store: VoiceStoreInterface
    if request.param == "postgres":
        store = PostgresVoiceStore(request.getfixturevalue("postgres_database"))
    else:
        store = VoiceStore(folder)
    store.open()
    request.addfinalizer(store.close)
    return store


def stored_files(store: VoiceStoreInterface) -> dict[str, list[str]]:
    """Every file a store keeps, by owner: the folders of the SQLite store (a crash leftover too), or
    the voice_blobs rows of the PostgreSQL one; names as both give them (``arrays/style.npy``)."""
    files: dict[str, list[str]] = {}
    if isinstance(store, PostgresVoiceStore):
        with psycopg.connect(store.url) as db:
            for voice_id, name in db.execute("SELECT voice_id, name FROM voice_blobs ORDER BY voice_id, name"):
                files.setdefault(voice_id, []).append(name)
        return files
    assert isinstance(store, VoiceStore)
    for folder in sorted(entry for entry in store.root.iterdir() if entry.is_dir()):
        files[folder.name] = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return files
