"""A body that is not a multipart upload is parsed whole, on the event loop, before its fields are
checked: its size has a bound of its own (api.max_json_size), refused before it is read."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.reference_clips import real_speech_wav
from tests.support.standins import tone_app, tone_settings


def test_a_json_body_over_the_json_bound_is_413_before_it_is_parsed(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path, api={"max_json_size": "100KB"})) as (http, engine):
        big = json.dumps({"text": "a" * 200_000}).encode()
        refused = http.post("/api/v1/tts/synthesize", content=big, headers={"Content-Type": "application/json"})
        assert refused.status_code == 413
        error = refused.json()["error"]
        assert error["code"] == "payload_too_large" and "api.max_json_size" in error["message"]
        pieces = iter([big[:50_000], big[50_000:]])
        chunked = http.post("/api/v1/tts/synthesize", content=pieces, headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413  # counted as it arrives when no length is declared
        # A multipart upload of the same size is within api.max_request_size.
        upload = http.post(
            "/api/v1/tts/synthesize_file",
            data={"text": "你好。", "padding": "x" * 150_000},
            files={"voice_file": real_speech_wav()},
        )
        assert upload.status_code == 200, upload.text
        assert engine.syntheses >= 1
