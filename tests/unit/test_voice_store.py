"""The voice store writes all or nothing and cleans what a crash leaves behind."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from megatts3_server.errors import InvalidVoiceIdError, VoiceExistsError
from megatts3_server.voices import NewVoiceFiles, StoredVoice, VoiceStore, now_iso
from tests.support.voices import opened_store, stored_voice


def _voice(voice_id: str) -> StoredVoice:
    return stored_voice(voice_id, meta={"pack": "jf_alpha"})


@pytest.fixture
def store(tmp_path: Path) -> VoiceStore:
    return opened_store(tmp_path / "voices")


def test_save_get_list_delete(store: VoiceStore) -> None:
    store.save_atomic(_voice("a1"), NewVoiceFiles(b"RIFFwav", arrays={"style": np.ones((3, 4), np.float32)}))
    assert store.get("a1").meta == {"pack": "jf_alpha"}
    assert [voice.id for voice in store.list()] == ["a1"]
    assert np.array_equal(store.load_arrays("a1")["style"], np.ones((3, 4)))
    assert store.delete("a1") is True
    assert store.get("a1") is None
    assert not (store.root / "a1").exists()
    assert store.delete("a1") is False


def test_duplicate_id_leaves_original_untouched(store: VoiceStore) -> None:
    store.save_atomic(_voice("same"), NewVoiceFiles(b"first"))
    with pytest.raises(VoiceExistsError):
        store.save_atomic(_voice("same"), NewVoiceFiles(b"second"))
    assert (store.root / "same" / "reference.wav").read_bytes() == b"first"
    assert [entry.name for entry in store.root.iterdir() if entry.is_dir()] == ["same"]


def test_failed_write_leaves_nothing(store: VoiceStore) -> None:
    bad = np.array([object()], dtype=object)  # np.save refuses it: saving it would need pickle
    with pytest.raises(ValueError):
        store.save_atomic(_voice("broken"), NewVoiceFiles(b"RIFF", latent=bad))
    assert store.get("broken") is None
    assert [entry.name for entry in store.root.iterdir() if entry.is_dir()] == []


@pytest.mark.parametrize("voice_id", ["../x", "a/b", "", ".x", "-x", "x" * 65])
def test_unsafe_ids_never_touch_the_filesystem(store: VoiceStore, voice_id: str) -> None:
    with pytest.raises(InvalidVoiceIdError):
        store.save_atomic(_voice(voice_id), NewVoiceFiles(b"RIFF"))


def test_open_removes_crash_leftovers(tmp_path: Path) -> None:
    store = VoiceStore(tmp_path / "voices")
    store.open()
    store.save_atomic(_voice("kept"), NewVoiceFiles(b"RIFF"))
    store.save_atomic(_voice("lost_files"), NewVoiceFiles(b"RIFF"))
    (store.root / "lost_files" / "reference.wav").unlink()
    (store.root / ".staging-123").mkdir()
    (store.root / ".trash-456").mkdir()
    (store.root / "orphan").mkdir()

    reopened = VoiceStore(tmp_path / "voices")
    reopened.open()
    assert [voice.id for voice in reopened.list()] == ["kept"]
    assert sorted(entry.name for entry in reopened.root.iterdir() if entry.is_dir()) == ["kept"]


_FIRST_RELEASE_SCHEMA = """
CREATE TABLE voices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', type TEXT NOT NULL,
    engine TEXT NOT NULL, created_at TEXT NOT NULL, duration REAL NOT NULL, sample_rate INTEGER NOT NULL,
    source_format TEXT NOT NULL, content_sha256 TEXT NOT NULL, has_latent INTEGER NOT NULL, meta TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT ''
)
"""


def test_a_database_of_the_first_release_gains_the_job_columns(tmp_path: Path) -> None:
    root = tmp_path / "voices"
    (root / "old").mkdir(parents=True)
    (root / "old" / "reference.wav").write_bytes(b"RIFFwav")
    with sqlite3.connect(root / "voices.sqlite3") as db:
        db.execute(_FIRST_RELEASE_SCHEMA)
        db.execute(
            "INSERT INTO voices VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ("old", "old", "", "uploaded", "test", now_iso(), 2.0, 24000, "wav", "0" * 64, 0, "{}", ""),
        )
    store = VoiceStore(root)
    store.open()
    old = store.get("old")
    assert (old.status, old.progress, old.similarity, old.error, old.attempts) == ("ready", 100.0, None, "", 0)
    store.save_atomic(_voice("new"), NewVoiceFiles(b"RIFFwav"))
    assert {voice.id for voice in store.list()} == {"old", "new"}


def test_enrollment_state_is_updated_and_completed_atomically(store: VoiceStore) -> None:
    pending = dataclasses.replace(_voice("job"), status="pending", progress=0.0, meta={})
    store.save_atomic(pending, NewVoiceFiles(b"RIFFwav"))
    assert [voice.id for voice in store.unfinished()] == ["job"]
    assert store.update_job("job", status="enrolling", progress=40.0, attempts=1)
    assert (store.get("job").status, store.get("job").progress) == ("enrolling", 40.0)
    with pytest.raises(ValueError):
        store.update_job("job", meta="{}")
    style = np.full((510, 256), 0.5, np.float32)
    assert store.complete_enrollment("job", {"start": "jf_alpha"}, "searched", {"style": style}, 0.71)
    done = store.get("job")
    assert (done.status, done.progress, done.similarity, done.meta) == ("ready", 100.0, 0.71, {"start": "jf_alpha"})
    assert np.array_equal(store.load_arrays("job")["style"], style)
    assert store.unfinished() == []
    store.delete("job")
    assert not store.complete_enrollment("job", {}, "", {"style": style}, 0.7)
    assert not store.update_job("job", progress=1.0)
    assert store.get("job") is None
