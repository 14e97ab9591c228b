"""``megatts3-server voices migrate``: a SQLite voice store copied into PostgreSQL, whole and idempotently."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from typer.testing import CliRunner, Result

from megatts3_server.cli import app
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.voices import NewVoiceFiles, PostgresVoiceStore, VoiceStore
from tests.support.voices import opened_store, silent_reference, stored_voice

runner = CliRunner()


def _migrate(*args: str) -> Result:
    return runner.invoke(app, ["voices", "migrate", *args])


def _sqlite_store_with_every_kind_of_voice(folder: Path) -> VoiceStore:
    store = opened_store(folder)
    reference = silent_reference().reference_wav
    style = np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6)
    latent = np.arange(20, dtype=np.float16).reshape(4, 5)
    store.save_atomic(
        stored_voice("ready_arrays", meta={"start": "jf_alpha"}, summary="searched", similarity=0.81),
        NewVoiceFiles(reference, arrays={"style": style, "mix": np.array([3, 1], np.int32)}),
    )
    store.save_atomic(
        stored_voice("with_latent", has_latent=True, content_sha256="1" * 64), NewVoiceFiles(reference, latent=latent)
    )
    store.save_atomic(
        stored_voice("waiting", status="pending", progress=0.0, content_sha256="2" * 64), NewVoiceFiles(reference)
    )
    store.save_atomic(
        stored_voice("broken", status="failed", error="no voice in it", attempts=2, content_sha256="3" * 64),
        NewVoiceFiles(reference),
    )
    return store


def _same_arrays(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> bool:
    return first.keys() == second.keys() and all(
        first[name].dtype == second[name].dtype
        and first[name].shape == second[name].shape
        and first[name].tobytes() == second[name].tobytes()
        for name in first
    )


def test_every_voice_is_copied_once_and_comes_back_identical(
    tmp_path: Path, postgres_url: str, postgres_database: PostgresDatabase
) -> None:
    source = _sqlite_store_with_every_kind_of_voice(tmp_path / "voices")
    ids = [voice.id for voice in source.list()]

    first = _migrate("--from", str(tmp_path / "voices"), "--to", postgres_url)
    assert first.exit_code == 0, first.output
    assert sorted(line.split()[1] for line in first.stdout.splitlines() if line.startswith("copied ")) == sorted(ids)
    assert "4 copied, 0 skipped, 0 conflicting" in first.stdout

    again = _migrate("--from", str(tmp_path / "voices"), "--to", postgres_url)
    assert again.exit_code == 0, again.output
    assert "0 copied, 4 skipped, 0 conflicting" in again.stdout
    assert not any(line.startswith("copied ") for line in again.stdout.splitlines())

    target = PostgresVoiceStore(postgres_database)
    try:
        assert target.list() == source.list()
        for voice_id in ids:
            (wav, latent), (copied_wav, copied_latent) = (
                source.load_reference(voice_id),
                target.load_reference(voice_id),
            )
            assert copied_wav == wav
            assert (latent is None and copied_latent is None) or _same_arrays({"l": latent}, {"l": copied_latent})
            assert _same_arrays(target.load_arrays(voice_id), source.load_arrays(voice_id))
        assert target.load_arrays("ready_arrays").keys() == {"style", "mix"}
        assert [voice.id for voice in target.unfinished()] == ["waiting"]
    finally:
        target.close()
        source.close()


def test_a_different_voice_under_the_same_id_is_reported_and_left_alone(
    tmp_path: Path, postgres_url: str, postgres_database: PostgresDatabase
) -> None:
    source = _sqlite_store_with_every_kind_of_voice(tmp_path / "voices")
    source.close()
    target = PostgresVoiceStore(postgres_database)
    target.open()
    other = dataclasses.replace(stored_voice("waiting"), content_sha256="f" * 64, name="someone else")
    target.save_atomic(other, NewVoiceFiles(b"other audio"))

    result = _migrate("--from", str(tmp_path / "voices"), "--to", postgres_url)
    assert result.exit_code == 1, result.output
    assert "conflict waiting" in result.output
    assert "3 copied, 0 skipped, 1 conflicting" in result.stdout
    try:
        assert target.get("waiting") == other
        assert target.load_reference("waiting") == (b"other audio", None)
    finally:
        target.close()


def test_a_folder_without_a_voice_store_is_refused(tmp_path: Path, postgres_url: str) -> None:
    result = _migrate("--from", str(tmp_path), "--to", postgres_url)
    assert result.exit_code == 2
    assert "no voice store" in result.output
    assert list(tmp_path.iterdir()) == []
