"""The lexicon entries' own store, on both backends (SQLite beside the voices, PostgreSQL): entries
are added, replaced and removed, each tenant's are its own, and a store used before the voice store
opened its database migrates that database itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from megatts3_server.lexicon_store import LexiconStore
from megatts3_server.tenancy import DEFAULT_TENANT
from megatts3_server.voices import VoiceStore
from tests.support.voices import STORE_BACKENDS, sqlite_lexicon

ALICE, BOB = "key:alice", "key:bob"


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LexiconStore:
    """A store nothing opened before: its first use migrates its database."""
    if request.param == "postgres":
        return LexiconStore(request.getfixturevalue("postgres_database"))
    return sqlite_lexicon(tmp_path / "voices")


def test_lexicon_entries_are_added_replaced_and_removed(store: LexiconStore) -> None:
    assert store.lexicon(DEFAULT_TENANT) == {}
    store.put_lexicon({"重庆": "chong2 qing4", "API": "/ˌApiˈI/"}, DEFAULT_TENANT)
    store.put_lexicon({"重庆": "zhong4 qing4"}, DEFAULT_TENANT)
    assert store.lexicon(DEFAULT_TENANT) == {"API": "/ˌApiˈI/", "重庆": "zhong4 qing4"}
    assert store.delete_lexicon("API", DEFAULT_TENANT) is True
    assert store.delete_lexicon("API", DEFAULT_TENANT) is False
    assert store.lexicon(DEFAULT_TENANT) == {"重庆": "zhong4 qing4"}


def test_lexicon_entries_are_kept_per_tenant(store: LexiconStore) -> None:
    store.put_lexicon({"重庆": "zhong4 qing4"}, ALICE)
    store.put_lexicon({"重庆": "chong2 qing4", "API": "/ˌApiˈI/"}, BOB)
    assert store.lexicon(ALICE) == {"重庆": "zhong4 qing4"}
    assert store.lexicon(BOB) == {"API": "/ˌApiˈI/", "重庆": "chong2 qing4"}
    assert store.lexicon(DEFAULT_TENANT) == {}
    assert store.delete_lexicon("API", ALICE) is False
    assert store.delete_lexicon("重庆", ALICE) is True
    assert store.lexicon(BOB) == {"API": "/ˌApiˈI/", "重庆": "chong2 qing4"}


def test_the_sqlite_entries_live_beside_the_voices_in_their_database(tmp_path: Path) -> None:
    sqlite_lexicon(tmp_path / "voices").put_lexicon({"重庆": "chong2 qing4"}, ALICE)
    voices = VoiceStore(tmp_path / "voices")
    voices.open()  # the database the lexicon store made is the voice store's, at the same version
    assert voices.list() == []
    voices.close()
    assert sqlite_lexicon(tmp_path / "voices").lexicon(ALICE) == {"重庆": "chong2 qing4"}
