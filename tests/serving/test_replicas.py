"""Two replicas of the service on one PostgreSQL voice store: what one stores, the other serves."""

from __future__ import annotations

from pathlib import Path

from megatts3_server.config import Settings
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
