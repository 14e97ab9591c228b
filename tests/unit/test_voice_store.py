"""The voice store writes all or nothing and cleans what a crash leaves behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from megatts3_server.errors import InvalidVoiceIdError, VoiceExistsError
from megatts3_server.voices import NewVoiceFiles, StoredVoice, VoiceStore, now_iso


def _voice(voice_id: str) -> StoredVoice:
    return StoredVoice(
        id=voice_id,
        name=voice_id,
        description="",
        type="uploaded",
        engine="test",
        created_at=now_iso(),
        duration=2.0,
        sample_rate=24000,
        source_format="wav",
        content_sha256="0" * 64,
        has_latent=False,
        meta={"pack": "jf_alpha"},
    )


@pytest.fixture
def store(tmp_path: Path) -> VoiceStore:
    store = VoiceStore(tmp_path / "voices")
    store.open()
    return store


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
