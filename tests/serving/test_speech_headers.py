"""The headers that describe speech read as written: a clone's note arrives as plain ASCII, and only
what a header cannot carry is percent-encoded."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from megatts3_server.engines.base import PreparedVoice
from tests.support.reference_clips import real_speech_wav
from tests.support.standins import ToneEngine, tone_app, tone_settings

NOTE = "no cloning search (install the cloning extra: pip install 'megatts3-server[cloning]'); closest: af_heart"


class NotedEngine(ToneEngine):
    """Prepares a reference with ``note`` as what it made of it."""

    def __init__(self, note: str) -> None:
        super().__init__()
        self.note = note

    def prepare_voice(self, reference: Any, latent: Any) -> PreparedVoice:
        return PreparedVoice(meta={"pitch": 250.0}, summary=self.note)


def _note(tmp_path: Path, note: str) -> str:
    with tone_app(tone_settings(tmp_path), NotedEngine(note)) as (http, _):
        answer = http.post(
            "/api/v1/tts/synthesize_file", data={"text": "你好。"}, files={"voice_file": ("a.wav", real_speech_wav())}
        )
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Voice-Note"]


def test_a_clones_note_arrives_as_written(tmp_path: Path) -> None:
    assert _note(tmp_path, NOTE) == NOTE


def test_only_what_a_header_cannot_carry_is_percent_encoded(tmp_path: Path) -> None:
    note = "closest 100% match: 林清雅\r\nX-Injected: yes"
    sent = _note(tmp_path, note)
    assert sent == "closest 100%25 match: %E6%9E%97%E6%B8%85%E9%9B%85%0D%0AX-Injected: yes"
    assert unquote(sent) == note
