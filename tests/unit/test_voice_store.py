"""The voice store writes all or nothing and cleans what a crash leaves behind.

The tests of the store's interface run on both backends (SQLite + files, PostgreSQL); those about
the SQLite store's own files and schema history run on it alone (marked below).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from megatts3_server.errors import InvalidVoiceIdError, VoiceExistsError
from megatts3_server.voices import NewVoiceFiles, StoredVoice, VoiceStore, VoiceStoreInterface, now_iso
from tests.support.voices import STORE_BACKENDS, backend_store, stored_files, stored_voice


def _voice(voice_id: str) -> StoredVoice:
    return stored_voice(voice_id, meta={"pack": "jf_alpha"})


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VoiceStoreInterface:
    return backend_store(request, tmp_path / "voices")


def test_save_get_list_delete(store: VoiceStoreInterface) -> None:
    store.save_atomic(_voice("a1"), NewVoiceFiles(b"RIFFwav", arrays={"style": np.ones((3, 4), np.float32)}))
    assert store.get("a1").meta == {"pack": "jf_alpha"}
    assert [voice.id for voice in store.list()] == ["a1"]
    assert np.array_equal(store.load_arrays("a1")["style"], np.ones((3, 4)))
    assert stored_files(store) == {"a1": ["arrays/style.npy", "reference.wav"]}
    assert store.delete("a1") is True
    assert store.get("a1") is None
    assert stored_files(store) == {}
    assert store.delete("a1") is False


def test_a_voice_without_a_recording_is_kept_like_any_other(store: VoiceStoreInterface) -> None:
    """A blend of built-in voices: its recipe in the record, an empty reference file."""
    blend = stored_voice("narrator", type="blend", duration=0.0, meta={"recipe": "af_bella(0.667)+af_sky(0.333)"})
    store.save_atomic(blend, NewVoiceFiles(b""))
    store.open()  # a restart's recovery keeps it
    assert store.get("narrator") == blend
    assert store.load_reference("narrator") == (b"", None)
    assert store.load_arrays("narrator") == {}
    assert store.delete("narrator") and store.get("narrator") is None


def test_duplicate_id_leaves_original_untouched(store: VoiceStoreInterface) -> None:
    store.save_atomic(_voice("same"), NewVoiceFiles(b"first"))
    with pytest.raises(VoiceExistsError):
        store.save_atomic(_voice("same"), NewVoiceFiles(b"second"))
    assert store.load_reference("same") == (b"first", None)
    assert stored_files(store) == {"same": ["reference.wav"]}


def test_failed_write_leaves_nothing(store: VoiceStoreInterface) -> None:
    bad = np.array([object()], dtype=object)  # np.save refuses it: saving it would need pickle
    with pytest.raises(ValueError):
        store.save_atomic(_voice("broken"), NewVoiceFiles(b"RIFF", latent=bad))
    assert store.get("broken") is None
    assert stored_files(store) == {}


@pytest.mark.parametrize("voice_id", ["../x", "a/b", "", ".x", "-x", "x" * 65])
def test_unsafe_ids_never_touch_the_filesystem(store: VoiceStoreInterface, voice_id: str) -> None:
    with pytest.raises(InvalidVoiceIdError):
        store.save_atomic(_voice(voice_id), NewVoiceFiles(b"RIFF"))
    assert stored_files(store) == {}


def test_reference_latent_and_arrays_come_back_as_stored(store: VoiceStoreInterface) -> None:
    latent = np.arange(12, dtype=np.float16).reshape(3, 4)
    arrays = {"style": np.full((2, 3), 0.25, np.float32), "pack_mix": np.array([1, 2, 3], np.int64)}
    store.save_atomic(_voice("full"), NewVoiceFiles(b"RIFF\x00\xffwav", latent=latent, arrays=arrays))
    reference, loaded = store.load_reference("full")
    assert reference == b"RIFF\x00\xffwav"
    assert loaded.dtype == np.float16 and np.array_equal(loaded, latent)
    loaded_arrays = store.load_arrays("full")
    assert sorted(loaded_arrays) == ["pack_mix", "style"]
    for name, array in arrays.items():
        assert loaded_arrays[name].dtype == array.dtype and np.array_equal(loaded_arrays[name], array)
    assert store.load_arrays("nothing_here") == {}


def test_only_a_failed_voice_is_replaced_and_only_when_asked(store: VoiceStoreInterface) -> None:
    store.save_atomic(_voice("ok"), NewVoiceFiles(b"ready one"))
    with pytest.raises(VoiceExistsError):
        store.save_atomic(_voice("ok"), NewVoiceFiles(b"again"), replace_failed=True)
    failed = dataclasses.replace(_voice("bad"), status="failed", error="no voice in it")
    store.save_atomic(failed, NewVoiceFiles(b"failed one", arrays={"style": np.zeros(2, np.float32)}))
    with pytest.raises(VoiceExistsError):
        store.save_atomic(_voice("bad"), NewVoiceFiles(b"new one"))
    store.save_atomic(_voice("bad"), NewVoiceFiles(b"new one"), replace_failed=True)
    assert (store.get("bad").status, store.load_reference("bad")[0]) == ("ready", b"new one")
    assert stored_files(store) == {"bad": ["reference.wav"], "ok": ["reference.wav"]}


def test_list_find_by_content_and_unfinished(store: VoiceStoreInterface) -> None:
    day_one, day_two, same_audio = "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00", "a" * 64
    for voice_id, created_at, status in (
        ("b2", day_two, "ready"),
        ("a2", day_two, "ready"),
        ("z1", day_one, "pending"),
    ):
        voice = stored_voice(voice_id, created_at=created_at, status=status, content_sha256=same_audio)
        store.save_atomic(voice, NewVoiceFiles(b"RIFF"))
    assert [voice.id for voice in store.list()] == ["z1", "a2", "b2"]
    assert store.find_by_content(same_audio, "test", "default").id == "z1"
    assert store.find_by_content(same_audio, "another engine", "default") is None
    assert [voice.id for voice in store.unfinished()] == ["z1"]
    store.check()


def test_enrollment_state_is_updated_and_completed_atomically(store: VoiceStoreInterface) -> None:
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


# SQLite only: its folders and crash leftovers, its schema history.


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
