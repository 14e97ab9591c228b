"""A text to speak is checked for Unicode once, where its request is made: every route that speaks
(and every caller in process, such as the CLI) gets 422 invalid_text naming the field, and nothing
after it meets a lone surrogate."""

from __future__ import annotations

from pathlib import Path

import pytest

from megatts3_server.errors import InvalidRequestError
from megatts3_server.jobs.script import ScriptLine
from megatts3_server.service.job_intake import JobRequest
from megatts3_server.service.speech import SpeechRequest
from tests.support.standins import tone_app, tone_settings

SURROGATE = '"hello \\ud800"'


def _raw(template: str) -> bytes:
    return template.replace("TEXT", SURROGATE).encode()


@pytest.mark.parametrize(
    ("route", "body", "code", "message"),
    [
        ("/api/v1/tts/synthesize", '{"text": TEXT}', "invalid_text", "text contains U+D800"),
        ("/api/v1/tts/jobs", '{"text": TEXT}', "invalid_text", "text contains U+D800"),
        ("/api/v1/tts/jobs", '{"screenplay": TEXT}', "invalid_text", "screenplay contains U+D800"),
        (
            "/api/v1/tts/jobs",
            '{"script": [{"voice_id": "tone_low", "text": "好。"}, {"voice_id": "tone_low", "text": TEXT}]}',
            "invalid_text",
            "script[1].text contains U+D800",
        ),
        # A field with a length bound: pydantic cannot count a lone surrogate's characters, and says so.
        ("/v1/audio/speech", '{"model": "tts-1", "input": TEXT, "voice": "tone_low"}', "invalid_request", "input: "),
    ],
)
def test_a_text_with_a_lone_surrogate_is_refused_naming_its_field(
    tmp_path: Path, route: str, body: str, code: str, message: str
) -> None:
    with tone_app(tone_settings(tmp_path)) as (http, engine):
        answer = http.post(route, content=_raw(body), headers={"Content-Type": "application/json"})
        error = answer.json()["error"]
        assert (answer.status_code, error["code"]) == (422, code), answer.text
        assert error["message"].startswith(message), error
        assert engine.syntheses == 0


def test_callers_in_process_are_checked_by_the_request_types() -> None:
    with pytest.raises(InvalidRequestError, match=r"text contains U\+D800"):
        SpeechRequest("hello \ud800")
    with pytest.raises(InvalidRequestError, match=r"script\[0\]\.text contains U\+DFFF"):
        JobRequest(script=[ScriptLine("v", "\udfff")])
