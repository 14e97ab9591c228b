"""Stored voices survive a restart, in every upload format; crash leftovers are cleaned, not served."""

from __future__ import annotations

import httpx

from tests.support.audio import CONTAINERS, decode, encode
from tests.support.server import ServerProcess


def test_voices_survive_restart(fresh_server: ServerProcess, tmp_path) -> None:
    server = fresh_server.start()
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        speech = client.post(
            "/api/v1/tts/synthesize",
            json={"text": "A reference clip that lasts a few seconds, spoken clearly.", "voice_id": "voice_005"},
        )
        samples, rate = decode(speech.content)
        for container in sorted(CONTAINERS):
            response = client.post(
                "/api/v1/voices/upload",
                files={"voice_file": (f"ref.{container}", encode(samples, rate, container))},
                data={"voice_id": f"kept_{container}", "description": f"from {container}"},
            )
            assert response.status_code == 201, response.text
        before = client.get("/api/v1/voices").json()["voices"]

    server.stop()
    storage = tmp_path / "storage" / "voices"
    # What a crash in the middle of an upload would leave: a staging folder and an orphan folder.
    (storage / ".staging-deadbeef").mkdir()
    (storage / ".staging-deadbeef" / "reference.wav").write_bytes(b"RIFF half a file")
    (storage / "orphan_voice").mkdir()
    server.start()

    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        after = client.get("/api/v1/voices").json()["voices"]
        assert after == before
        for container in sorted(CONTAINERS):
            response = client.post(
                "/api/v1/tts/synthesize", json={"text": "Still here after a restart.", "voice_id": f"kept_{container}"}
            )
            assert response.status_code == 200, response.text
        assert client.get("/api/v1/voices/orphan_voice").status_code == 404
    assert not (storage / ".staging-deadbeef").exists()
    assert not (storage / "orphan_voice").exists()
