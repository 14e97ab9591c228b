"""What the service prints to its console, as a user starts it: its own lines, not its libraries'."""

from __future__ import annotations

import httpx

from tests.support.server import ServerProcess

NOISE = ("pkg_resources", "Building prefix dict", "Loading model cost", "Prefix dict has been built", "words count")


def test_the_console_log_has_the_services_lines_and_no_library_chatter(
    server: ServerProcess, client: httpx.Client
) -> None:
    # English whose word count espeak reads differently (phonemizer's "words count mismatch"), and Chinese
    # (jieba's dictionary).
    for text, voice in (("The console costs $3.50 - a bargain.", "voice_002"), ("控制台很安静。", "voice_001")):
        spoken = client.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": voice})
        assert spoken.status_code == 200, spoken.text
    console = server.console()
    assert "kokoro engine loaded" in console and "engine speed measured" in console
    assert [line for line in console.splitlines() if any(noise in line for noise in NOISE)] == []
