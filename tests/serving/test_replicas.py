"""Two replicas of the service on one PostgreSQL voice store: what one stores, the other serves."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from megatts3_server.config import Settings
from megatts3_server.service.shared_state import shared_state_warnings
from tests.support.reference_clips import real_speech_wav
from tests.support.standins import tone_app, tone_settings


def _replica_settings(folder: Path, database_url: str) -> Settings:
    settings = tone_settings(folder)
    storage = settings.storage.model_copy(update={"backend": "postgres", "database_url": database_url})
    return settings.model_copy(update={"storage": storage})


def test_a_voice_uploaded_to_one_replica_is_served_and_deleted_by_another(tmp_path: Path, postgres_url: str) -> None:
    with (
        tone_app(_replica_settings(tmp_path / "one", postgres_url)) as (first, _),
        tone_app(_replica_settings(tmp_path / "two", postgres_url)) as (second, _),
    ):
        upload = first.post(
            "/api/v1/voices/upload", data={"voice_id": "Shared"}, files={"voice_file": real_speech_wav()}
        )
        assert upload.status_code == 201, upload.text
        assert second.get("/api/v1/voices/shared").json()["status"] == "ready"
        assert "shared" in [voice["id"] for voice in second.get("/api/v1/voices").json()["voices"]]
        spoken = second.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": "SHARED"})
        assert spoken.status_code == 200, spoken.text
        taken = second.post(
            "/api/v1/voices/upload", data={"voice_id": "shared"}, files={"voice_file": real_speech_wav()}
        )
        assert taken.status_code == 409
        assert second.delete("/api/v1/voices/shared").status_code == 200
        assert first.get("/api/v1/voices/shared").status_code == 404
        assert second.get("/health").json()["storage"]["readable"] is True


def test_a_replica_with_per_process_cache_and_limits_says_so_at_start(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    local = _replica_settings(tmp_path / "local", postgres_url)
    with caplog.at_level(logging.WARNING, logger="megatts3_server"), tone_app(local):
        pass
    said = " ".join(record.getMessage() for record in caplog.records if record.levelno == logging.WARNING)
    assert "model.cache.backend is memory" in said and "N times its rate limit" in said

    caplog.clear()
    shared = local.model_copy(
        update={
            "model": local.model.model_copy(update={"cache": local.model.cache.model_copy(update={"enabled": False})}),
            "api": local.api.model_copy(
                update={"rate_limit": local.api.rate_limit.model_copy(update={"storage": "redis://127.0.0.1:1/0"})}
            ),
        }
    )
    assert shared_state_warnings(shared) == []
    assert shared_state_warnings(tone_settings(tmp_path / "alone")) == []  # one SQLite server: nothing to share


def test_each_replica_reads_a_voices_arrays_once_and_again_when_it_is_stored_anew(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        tone_app(_replica_settings(tmp_path / "one", postgres_url)) as (first, _),
        tone_app(_replica_settings(tmp_path / "two", postgres_url)) as (second, _),
    ):
        arrays = second.app.state.services.voices.arrays  # type: ignore[attr-defined]

        def speak(text: str) -> None:
            spoken = second.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": "cached"})
            assert spoken.status_code == 200, spoken.text

        upload = {"data": {"voice_id": "cached"}, "files": {"voice_file": real_speech_wav()}}
        assert first.post("/api/v1/voices/upload", **upload).status_code == 201
        for text in ("一。", "二。", "三。"):
            speak(text)
        assert (arrays.misses, arrays.hits) == (1, 2)
        # Replaced on the other replica: this one cannot be told, but the new version is a new key.
        assert first.delete("/api/v1/voices/cached").status_code == 200
        missing = second.post("/api/v1/tts/synthesize", json={"text": "四。", "voice_id": "cached"})
        assert missing.status_code == 404
        time.sleep(1.1)  # created_at has second precision: the new upload is a new version
        assert first.post("/api/v1/voices/upload", **upload).status_code == 201
        speak("五。")
        assert arrays.misses == 2
